"""Every download is on record (served in full, or aborted by a client that went away part-way),
and is saved with the document's media type, never shown in the browser: under its own name for
the case it came for (and a reader allowed to see it), else under the caller's name. On each
backend of the store: the directory and S3."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Mapping

import aiohttp
import pytest
from aiohttp import web
from aiohttp.multipart import content_disposition_filename, parse_content_disposition

from runtime.documents import DocumentMeta, DocumentNotFound, DocumentStore
from runtime.web import download_name, stream_document
from tests.polling import holds

CASE = "KH-1"


async def serve(
    store: DocumentStore,
    size: int,
    name: str | None = None,
    fallback: str = "record.pdf",
    *,
    stored_name: bool = True,
) -> tuple[web.AppRunner, str, list[str]]:
    """A document stored for the case CASE, and served for it."""
    doc = store.put(io.BytesIO(os.urandom(size)), CASE, name)
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
    stored_name: bool = True,
) -> tuple[str | None, str]:
    """The name a browser saves the download under (RFC 6266), and its media type."""
    runner, url, outcomes = await serve(store, 1000, name, fallback, stored_name=stored_name)
    try:
        headers = await downloaded(url, 1000)
    finally:
        await runner.cleanup()
    return name_and_type(headers, outcomes)


async def downloaded(url: str, size: int) -> Mapping[str, str]:
    """The headers of a download of `size` bytes, read to its end."""
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert len(await resp.read()) == size
        return resp.headers


def name_and_type(headers: Mapping[str, str], outcomes: list[str]) -> tuple[str | None, str]:
    """The name a browser saves a download with these headers under, and its media type."""
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


MEMBERS_NAME = "Sokha Chan - biopsy.pdf"


OURS = "KH-1-3d7bd946"


@pytest.mark.parametrize(
    ("name", "fallback", "saved_as", "media_type"),
    [
        # The case's own upload, to a reader who may not see what the member named it.
        (MEMBERS_NAME, OURS, f"{OURS}.pdf", "application/pdf"),
        ("scan.png", OURS, f"{OURS}.png", "image/png"),
        ("ស្កេន.JPG", OURS, f"{OURS}.jpg", "image/jpeg"),
        ("ct.dcm", OURS, f"{OURS}.dcm", "application/dicom"),
        ("a.TIFF", OURS, f"{OURS}.tif", "image/tiff"),
        # A type not served as such adds no extension; a fallback with the right one keeps it.
        ("page.html", OURS, OURS, "application/octet-stream"),
        (MEMBERS_NAME, "KH-1-report-3d7.pdf", "KH-1-report-3d7.pdf", "application/pdf"),
    ],
    ids=["hidden", "hidden-png", "jpg", "dcm", "tiff", "bytes", "has-extension"],
)
async def test_a_name_not_the_readers_to_see_is_ours_with_the_stored_types_extension(
    document_store: DocumentStore, name: str, fallback: str, saved_as: str, media_type: str
) -> None:
    assert await saved(document_store, name, fallback, stored_name=False) == (saved_as, media_type)


@pytest.mark.parametrize(
    "came_for",
    # A name sealed for another case, or before names were sealed with their case (legacy
    # shared objects): it is not this case's to show, whoever reads.
    ["KH-2", None],
    ids=["other-case", "no-case"],
)
def test_a_name_sealed_for_no_case_or_another_is_never_shown(came_for: str | None) -> None:
    meta = DocumentMeta(doc_id="0" * 64, name=MEMBERS_NAME, media_type="image/jpeg", case_id=came_for)
    assert download_name(meta, OURS, case_id=CASE) == (f"{OURS}.jpg", "image/jpeg")
    assert download_name(meta, "KH-1-report.jpg", case_id=CASE) == ("KH-1-report.jpg", "image/jpeg")


async def test_the_same_file_sent_for_two_cases_is_two_documents_each_served_for_its_own_case_only(
    document_store: DocumentStore,
) -> None:
    store = document_store
    data = os.urandom(1000)
    theirs = store.put(io.BytesIO(data), "KH-2", MEMBERS_NAME)
    # Stored for the other case only: for this one there is nothing to read, nor a name.
    assert not store.exists(CASE, theirs.doc_id)
    with pytest.raises(DocumentNotFound):
        store.read_small(CASE, theirs.doc_id)
    assert store.describe(CASE, theirs.doc_id) is None

    ours = store.put(io.BytesIO(data), CASE, "scan.png")
    # The same id (the plaintext's sha256), yet a document of our own, not the other's.
    assert (ours.doc_id, ours.case_id, ours.created) == (theirs.doc_id, CASE, True)
    assert store.read_small(CASE, ours.doc_id) == store.read_small("KH-2", theirs.doc_id) == data
    sealed = [key for key in store.blobs.keys("cases/") if "/objects/" in key]
    assert sorted(key.split("/")[1] for key in sealed) == [CASE, "KH-2"]
    assert theirs.doc_id not in " ".join(sealed), "a case's object is named by its content's digest"

    outcomes: list[str] = []

    async def record(outcome: str) -> None:
        outcomes.append(outcome)

    async def download(request: web.Request) -> web.StreamResponse:
        case = request.match_info["case"]
        return await stream_document(request, store, ours.doc_id, OURS, case_id=case, outcome=record)

    app = web.Application()
    app.router.add_get("/{case}/doc", download)
    runner, base = await started(app)
    try:
        ours_saved = name_and_type(await downloaded(f"{base}/{CASE}/doc", 1000), outcomes)
        outcomes.clear()
        theirs_saved = name_and_type(await downloaded(f"{base}/KH-2/doc", 1000), outcomes)
    finally:
        await runner.cleanup()
    # Each case's download carries the name its own member sent; never the other's.
    assert ours_saved == ("scan.png", "image/png")
    assert theirs_saved == (MEMBERS_NAME, "application/pdf")

    # Removing one case's copy leaves the other's.
    store.delete(CASE, ours.doc_id)
    assert not store.exists(CASE, ours.doc_id)
    assert store.read_small("KH-2", theirs.doc_id) == data
