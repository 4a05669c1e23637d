"""Every download is on record: served in full, or aborted by a client that went away part-way."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

import aiohttp
from aiohttp import web

from runtime.documents import DocumentStore
from runtime.web import stream_document
from security.keys import KeyRing
from tests.polling import holds


async def serve(tmp_path: Path, size: int) -> tuple[web.AppRunner, str, list[str]]:
    store = DocumentStore(tmp_path, KeyRing.parse(KeyRing.generate_spec("k1")))
    doc = store.put(io.BytesIO(os.urandom(size)))
    outcomes: list[str] = []

    async def record(outcome: str) -> None:
        outcomes.append(outcome)

    async def download(request: web.Request) -> web.StreamResponse:
        return await stream_document(request, store, doc.doc_id, "record.pdf", outcome=record)

    app = web.Application()
    app.router.add_get("/doc", download)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}/doc", outcomes


async def test_a_complete_download_is_recorded_as_served(tmp_path: Path) -> None:
    runner, url, outcomes = await serve(tmp_path, 300_000)
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            assert len(await resp.read()) == 300_000
        assert outcomes == ["served"]
    finally:
        await runner.cleanup()


async def test_a_download_cut_off_part_way_is_recorded_as_aborted(tmp_path: Path) -> None:
    # 64 MB cannot sit in the socket buffers: the server is still writing when the client leaves.
    runner, url, outcomes = await serve(tmp_path, 64 << 20)
    try:
        reader, writer = await asyncio.open_connection(*url.split("/")[2].split(":"))
        writer.write(f"GET /doc HTTP/1.1\r\nHost: {url.split('/')[2]}\r\n\r\n".encode())
        await writer.drain()
        assert (await reader.read(65536)).startswith(b"HTTP/1.1 200")
        writer.transport.abort()  # a reset, as when a phone loses its signal

        async def recorded() -> bool:
            return bool(outcomes)

        await holds(recorded)
        assert outcomes == ["aborted"]
    finally:
        await runner.cleanup()
