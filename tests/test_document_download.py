"""Every download is on record (served in full, or aborted by a client that went away part-way),
and is saved under the document's own name and media type, never shown in the browser."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.multipart import content_disposition_filename, parse_content_disposition

from runtime.documents import DocumentStore
from runtime.web import stream_document
from security.keys import KeyRing
from tests.polling import holds


async def serve(
    tmp_path: Path, size: int, name: str | None = None, fallback: str = "record.pdf"
) -> tuple[web.AppRunner, str, list[str]]:
    store = DocumentStore(tmp_path, KeyRing.parse(KeyRing.generate_spec("k1")))
    doc = store.put(io.BytesIO(os.urandom(size)), name)
    outcomes: list[str] = []

    async def record(outcome: str) -> None:
        outcomes.append(outcome)

    async def download(request: web.Request) -> web.StreamResponse:
        return await stream_document(request, store, doc.doc_id, fallback, outcome=record)

    app = web.Application()
    app.router.add_get("/doc", download)
    runner, base = await started(app)
    return runner, f"{base}/doc", outcomes


async def started(app: web.Application) -> tuple[web.AppRunner, str]:
    """`app` served on a free local port: its runner (to clean up) and its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


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


@pytest.mark.parametrize(
    ("name", "fallback", "saved_as", "media_type"),
    [
        ("biopsy..v2.pdf", "KH-1-3d7bd946", "biopsy..v2.pdf", "application/pdf"),
        ("ស្កេន ក្បាល.JPG", "KH-1-3d7bd946", "ស្កេន ក្បាល.JPG", "image/jpeg"),
        ("ct.dcm", "KH-1-3d7bd946", "ct.dcm", "application/dicom"),
        ("page.html", "KH-1-3d7bd946", "page.html", "application/octet-stream"),
        # Stored before names were kept: the caller's name, and its extension's type.
        (None, "KH-1-3d7bd946", "KH-1-3d7bd946", "application/octet-stream"),
        (None, "KH-1-report-3d7bd946.pdf", "KH-1-report-3d7bd946.pdf", "application/pdf"),
    ],
)
async def test_a_download_is_saved_under_its_own_name_and_type(
    tmp_path: Path, name: str | None, fallback: str, saved_as: str, media_type: str
) -> None:
    runner, url, outcomes = await serve(tmp_path, 1000, name, fallback)
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            assert len(await resp.read()) == 1000
            headers = resp.headers
    finally:
        await runner.cleanup()
    disposition, params = parse_content_disposition(headers["Content-Disposition"])
    assert disposition == "attachment"  # never inline: saved, not shown or run
    assert content_disposition_filename(params) == saved_as
    assert headers["Content-Type"] == media_type
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
    assert outcomes == ["served"]
