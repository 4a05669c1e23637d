"""Every download is on record (served in full, or aborted by a client that went away part-way),
and is saved with the document's media type, never shown in the browser: under its own name for
the case it came for (and a reader allowed to see it), else under the caller's name. On each
backend of the store: the directory and S3."""

from __future__ import annotations

import asyncio
import io
import os

import aiohttp
import pytest
from aiohttp import web
from aiohttp.multipart import content_disposition_filename, parse_content_disposition

from runtime.documents import DocumentStore
from runtime.web import stream_document
from tests.polling import holds

CASE = "KH-1"


async def serve(
    store: DocumentStore,
    size: int,
    name: str | None = None,
    fallback: str = "record.pdf",
    *,
    came_for: str | None = CASE,
    stored_name: bool = True,
) -> tuple[web.AppRunner, str, list[str]]:
    """A document stored for the case `came_for`, served for the case CASE."""
    doc = store.put(io.BytesIO(os.urandom(size)), name, came_for)
    outcomes: list[str] = []

    async def record(outcome: str) -> None:
        outcomes.append(outcome)

    async def download(request: web.Request) -> web.StreamResponse:
        return await stream_document(
            request, store, doc.doc_id, fallback, case_id=CASE, stored_name=stored_name, outcome=record
        )

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


async def test_a_complete_download_is_recorded_as_served(document_store: DocumentStore) -> None:
    runner, url, outcomes = await serve(document_store, 300_000)
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            assert len(await resp.read()) == 300_000
        assert outcomes == ["served"]
    finally:
        await runner.cleanup()


async def test_a_download_cut_off_part_way_is_recorded_as_aborted(document_store: DocumentStore) -> None:
    # 64 MB cannot sit in the socket buffers: the server is still writing when the client leaves.
    runner, url, outcomes = await serve(document_store, 64 << 20)
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


async def saved(
    store: DocumentStore,
    name: str | None,
    fallback: str,
    came_for: str | None = CASE,
    stored_name: bool = True,
) -> tuple[str | None, str]:
    """The name a browser saves the download under (RFC 6266), and its media type."""
    runner, url, outcomes = await serve(
        store, 1000, name, fallback, came_for=came_for, stored_name=stored_name
    )
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            assert len(await resp.read()) == 1000
            headers = resp.headers
    finally:
        await runner.cleanup()
    disposition, params = parse_content_disposition(headers["Content-Disposition"])
    assert disposition == "attachment"  # never inline: saved, not shown or run
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
    assert outcomes == ["served"]
    return content_disposition_filename(params), headers["Content-Type"]


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
    document_store: DocumentStore, name: str | None, fallback: str, saved_as: str, media_type: str
) -> None:
    assert await saved(document_store, name, fallback) == (saved_as, media_type)


OTHER_CASES_NAME = "Sokha Chan - biopsy.pdf"


OURS = "KH-1-3d7bd946"


@pytest.mark.parametrize(
    ("name", "fallback", "came_for", "stored_name", "saved_as", "media_type"),
    [
        # The same bytes came first for another case: the name is that case's member's.
        (OTHER_CASES_NAME, OURS, "KH-2", True, f"{OURS}.pdf", "application/pdf"),
        ("ស្កេន.JPG", OURS, "KH-2", True, f"{OURS}.jpg", "image/jpeg"),
        ("ct.dcm", OURS, "KH-2", True, f"{OURS}.dcm", "application/dicom"),
        ("a.TIFF", OURS, "KH-2", True, f"{OURS}.tif", "image/tiff"),
        # A type not served as such adds no extension; a fallback with the right one keeps it.
        ("page.html", OURS, "KH-2", True, OURS, "application/octet-stream"),
        (OTHER_CASES_NAME, "KH-1-report-3d7.pdf", "KH-2", True, "KH-1-report-3d7.pdf", "application/pdf"),
        # Sealed before names were sealed with their case: it matches no case.
        (OTHER_CASES_NAME, OURS, None, True, f"{OURS}.pdf", "application/pdf"),
        # The case's own upload, to a reader who may not see what the member named it.
        (OTHER_CASES_NAME, OURS, CASE, False, f"{OURS}.pdf", "application/pdf"),
        ("scan.png", OURS, CASE, False, f"{OURS}.png", "image/png"),
    ],
    ids=["other-case", "jpg", "dcm", "tiff", "bytes", "has-extension", "no-case", "hidden", "hidden-png"],
)
async def test_a_name_not_the_readers_to_see_is_ours_with_the_stored_types_extension(
    document_store: DocumentStore,
    name: str,
    fallback: str,
    came_for: str | None,
    stored_name: bool,
    saved_as: str,
    media_type: str,
) -> None:
    assert await saved(document_store, name, fallback, came_for, stored_name) == (saved_as, media_type)
