"""A document keeps its own name and type, sealed in the store with the case it came for; a name
is never a path, and never another case's.

The names here are what a member's phone or a doctor's scanner sends, and what an attacker
sends instead: path characters (plain and %-escaped), control and hidden characters, overlong
names, and names made to break the download's Content-Disposition header.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from aiohttp.multipart import content_disposition_filename, parse_content_disposition

from models.case import RecordType
from runtime.documents import OCTET_STREAM, DocumentMeta, DocumentStore, media_type_for
from runtime.web import attachment, stream_document
from tests.stores import raw, replace, stored_bytes, unfinished
from tests.test_document_download import started
from web.errors import WebError
from web.uploads import PAGES, MultipartForm, file_name_problem, kept_name

KHMER = "លទ្ធផល\u200bឈាម.pdf"  # "blood result", with the zero-width space Khmer writes between words
OFFERED = [RecordType.LAB_RESULT, RecordType.IMAGING]

ORDINARY = [
    "biopsy..v2.pdf",
    "scan (1).PDF",
    "CT 2024-03-01.dcm",
    KHMER,
    "résumé.docx",
    ".hidden.pdf",
    'the "final" report.pdf',
    "a;b.pdf",
    "100% done.txt",
    "x" * 255,
]
PATHS = [
    ".",
    "..",
    "../../etc/passwd",
    "..\\windows.pdf",
    "..hidden.pdf",
    "a/b.pdf",
    "a\\b.pdf",
    "/etc/passwd",
    "%2e%2e",
    "%2E%2E%2Fetc%2Fpasswd",
    "a%2fb.pdf",
    "a%5Cb.pdf",
    "a%252fb.pdf",  # escaped twice
    "nul\x00.pdf",
    "a%00b.pdf",
]
HIDDEN = [
    "tab\t.pdf",
    "line\r\nbreak.pdf",
    "a%0d%0aSet-Cookie: x=1.pdf",
    "esc\x1b[31m.pdf",
    "del\x7f.pdf",
    "next\x85line.pdf",
    "gpj.\u202eexe",  # right-to-left override: shows as "exe.jpg"
    "\ufeffbom.pdf",
    "para\u2029graph.pdf",
    "undecodable\udcff.pdf",
]


@pytest.mark.parametrize("name", ORDINARY)
def test_an_ordinary_name_is_accepted(name: str) -> None:
    assert file_name_problem(name) is None


@pytest.mark.parametrize("name", PATHS + HIDDEN + ["x" * 256, quote("ឯ" * 256)])
def test_a_path_a_hidden_character_or_an_overlong_name_is_refused_without_quoting_it(name: str) -> None:
    problem = file_name_problem(name)
    assert problem is not None and "file name" in problem
    assert len(name) < 3 or name not in problem


def test_a_name_escaped_by_its_sender_is_kept_as_its_computer_called_it() -> None:
    assert kept_name(quote(KHMER, safe="")) == KHMER  # how aiohttp's FormData sends every name
    assert kept_name("a%22b%22.pdf") == 'a"b".pdf'  # how a browser sends a quote
    assert kept_name("100% done.txt") == "100% done.txt"
    assert kept_name("raw%ff.pdf") == "raw%ff.pdf"  # not UTF-8: kept as sent
    assert file_name_problem(quote("ឯ" * 255, safe="")) is None  # counted in characters, not escapes


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("a.pdf", "application/pdf"),
        ("A.JPG", "image/jpeg"),
        ("a.jpeg", "image/jpeg"),
        ("a.png", "image/png"),
        ("a.gif", "image/gif"),
        ("a.tif", "image/tiff"),
        ("a.heic", "image/heic"),
        ("ct.dcm", "application/dicom"),
        ("a.txt", "text/plain"),
        ("a.doc", "application/msword"),
        ("a.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("a.rtf", "application/rtf"),
        ("scans.zip", "application/zip"),
        ("page.html", OCTET_STREAM),
        ("image.svg", OCTET_STREAM),
        ("run.js", OCTET_STREAM),
        ("setup.exe", OCTET_STREAM),
        ("README", OCTET_STREAM),
        (".pdf", OCTET_STREAM),
    ],
)
def test_the_media_type_comes_from_an_allow_list_by_extension(name: str, media_type: str) -> None:
    assert media_type_for(name) == media_type


def _parsed(header: str) -> tuple[str | None, dict[str, str], str | None]:
    """The header as a client reads it (aiohttp's parser), and the name it saves under (RFC 6266)."""
    disposition, params = parse_content_disposition(header)
    return disposition, params, content_disposition_filename(params)


@pytest.mark.parametrize(
    "name",
    [
        KHMER,
        "biopsy..v2.pdf",
        'a"b.pdf',
        'x"; filename="evil.exe',
        "a; filename*=UTF-8''evil.exe",
        "a\r\nSet-Cookie: x=1.pdf",
        "a\\b.pdf",
        "résumé 50%.pdf",
    ],
)
def test_the_header_carries_the_name_whole_and_nothing_else(name: str) -> None:
    header = attachment(name, "KH-1-3d7bd946aa01")
    assert "\r" not in header and "\n" not in header and header.isascii()
    disposition, params, read = _parsed(header)
    assert disposition == "attachment"
    assert set(params) == {"filename", "filename*"}
    assert params["filename*"] == name and read == name
    plain = params["filename"]
    assert plain and not any(ch in plain for ch in '"\\;%/')


def test_a_name_with_too_little_ascii_falls_back_to_ours_with_its_extension() -> None:
    header = attachment(KHMER, "KH-1-3d7bd946aa01")
    assert header.startswith('attachment; filename="KH-1-3d7bd946aa01.pdf"; ')
    assert attachment("ឯកសារ", "KH-1-report.pdf").startswith('attachment; filename="KH-1-report.pdf"')
    assert attachment("résumé.pdf", "x").startswith('attachment; filename="resume.pdf"')


@pytest.fixture
def store(document_store: DocumentStore) -> DocumentStore:
    """On each backend: the directory and S3 (tests/conftest.py)."""
    return document_store


def test_the_name_is_sealed_beside_the_document_and_never_readable_in_the_store(store: DocumentStore) -> None:
    name = "Sokha Chan - biopsy ឈាម.pdf"
    doc = store.put(io.BytesIO(b"%PDF synthetic record"), "KH-1", name)
    meta = store.describe("KH-1", doc.doc_id)
    assert meta is not None
    assert (meta.name, meta.media_type, meta.case_id) == (name, "application/pdf", "KH-1")
    everything = b"\n".join(stored_bytes(store))
    for spelling in (name, "Sokha", "ឈាម", quote(name), name.upper()):
        for encoding in ("utf-8", "utf-16-le"):
            assert spelling.encode(encoding) not in everything, spelling
    store.delete("KH-1", doc.doc_id)
    assert stored_bytes(store) == [] and store.describe("KH-1", doc.doc_id) is None


async def saved_for(store: DocumentStore, doc_id: str, case_id: str) -> tuple[str | None, str]:
    """The name and type a download of `doc_id` for `case_id` is saved under (fallback: ours)."""

    async def download(request: web.Request) -> web.StreamResponse:
        return await stream_document(request, store, doc_id, f"{case_id}-{doc_id[:12]}", case_id=case_id)

    app = web.Application()
    app.router.add_get("/doc", download)
    runner, base = await started(app)
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{base}/doc") as resp:
            assert resp.status == 200
            await resp.read()
            _, params = parse_content_disposition(resp.headers["Content-Disposition"])
            return content_disposition_filename(params), resp.headers["Content-Type"]
    finally:
        await runner.cleanup()


async def test_the_same_bytes_in_a_second_case_are_its_own_document_under_its_own_name(
    store: DocumentStore,
) -> None:
    scan = b"%PDF the same scan, sent by two members"
    first = store.put(io.BytesIO(scan), "KH-1", "Sokha Chan - biopsy.pdf")
    again = store.put(io.BytesIO(scan), "KH-2", "Dara Keo - biopsy.png")
    assert again.doc_id == first.doc_id and again.created  # the same id within each case, two objects
    doc = first.doc_id
    assert await saved_for(store, doc, "KH-2") == ("Dara Keo - biopsy.png", "image/png")
    assert await saved_for(store, doc, "KH-1") == ("Sokha Chan - biopsy.pdf", "application/pdf")


def test_a_document_stored_without_a_name_is_given_none_later(store: DocumentStore) -> None:
    first = store.put_bytes(b"the same scan", "KH-1")
    assert store.describe("KH-1", first.doc_id) is None  # a document without a name has none
    again = store.put(io.BytesIO(b"the same scan"), "KH-1", "Sokha Chan.pdf")
    assert not again.created and store.describe("KH-1", first.doc_id) is None


def test_a_sealed_name_is_never_sealed_over(store: DocumentStore) -> None:
    """The same bytes on their way in twice at once for a case: the name sealed first stays."""
    doc = store.put(io.BytesIO(b"record"), "KH-1", "a.pdf")
    other = DocumentMeta(doc_id=doc.doc_id, name="b.png", media_type="image/png", case_id="KH-1")
    assert not store.seal_meta(store.case_keys.for_writing("KH-1"), other)
    meta = store.describe("KH-1", doc.doc_id)
    assert meta is not None and (meta.name, meta.case_id) == ("a.pdf", "KH-1")
    assert unfinished(store) == []


def test_a_sealed_name_moved_or_broken_names_nothing(store: DocumentStore) -> None:
    a = store.put(io.BytesIO(b"record a"), "KH-1", "a.pdf")
    b = store.put(io.BytesIO(b"record b"), "KH-1", "b.pdf")
    key = store.case_keys.for_writing("KH-1")
    replace(store, store.meta_key(key, b.doc_id), raw(store, store.meta_key(key, a.doc_id)))
    assert store.describe("KH-1", b.doc_id) is None
    sealed = bytearray(raw(store, store.meta_key(key, a.doc_id)))
    sealed[-1] ^= 1
    replace(store, store.meta_key(key, a.doc_id), bytes(sealed))
    assert store.describe("KH-1", a.doc_id) is None


async def test_an_upload_received_from_the_network_keeps_its_name(store: DocumentStore) -> None:
    chunks = iter([b"first half, ", b"second half", b""])

    async def read() -> bytes:
        await asyncio.sleep(0)
        return next(chunks)

    doc = await store.receive(read, client="10.0.0.1", name=KHMER, case_id="KH-1")
    meta = store.describe("KH-1", doc.doc_id)
    assert meta is not None and (meta.name, meta.case_id) == (KHMER, "KH-1")


# ---- a form's files, each with its own type (MultipartForm.store_typed_files) ------------------


@pytest.fixture
async def form_site(store: DocumentStore) -> AsyncIterator[tuple[str, list[str]]]:
    """`/typed` stores a form's typed files and answers `doc_id type` lines (or the refusal)."""
    answers: list[str] = []

    async def typed(request: web.Request) -> web.Response:
        form = await MultipartForm.of(request, PAGES)
        await form.field("csrf")
        try:
            stored = await form.store_typed_files(
                store, OFFERED, case_id="KH-1", most=2, too_many="too many", least=1, too_few="too few"
            )
        except WebError as refused:
            answers.append(refused.message)
            return web.Response(status=refused.status, text=refused.message)
        return web.Response(text="\n".join(f"{doc.doc_id} {kind.value}" for doc, kind in stored))

    app = web.Application()
    app.router.add_post("/typed", typed)
    runner, base = await started(app)
    try:
        yield f"{base}/typed", answers
    finally:
        await runner.cleanup()


Part = tuple[str, str, bytes | None]  # field name, value or file name, the file's bytes


def raw_form(*parts: Part) -> tuple[bytes, dict[str, str]]:
    """A multipart body written as a browser writes it: file names in raw UTF-8."""
    boundary = "typedfiles"
    body = f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\nx\r\n'.encode()
    for name, value, content in parts:
        if content is None:
            body += (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            )
        else:
            head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{value}"\r\n'
            body += (head + "Content-Type: application/octet-stream\r\n\r\n").encode() + content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def post(url: str, *parts: Part) -> tuple[int, str]:
    body, headers = raw_form(*parts)
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as resp:
        return resp.status, await resp.text()


def typed(kind: str, name: str, content: bytes) -> list[Part]:
    return [("record_type", kind, None), ("file", name, content)]


async def test_each_file_is_stored_with_the_type_sent_before_it(
    form_site: tuple[str, list[str]], store: DocumentStore
) -> None:
    url, _ = form_site
    status, text = await post(
        url,
        *typed("lab_result", KHMER, b"blood count"),
        *typed("imaging", "", b""),  # a row the member left empty: skipped, its type unchecked
        *typed("imaging", "biopsy..v2.png", b"a picture"),
    )
    assert status == 200, text
    pairs = [line.split() for line in text.splitlines()]
    assert [kind for _, kind in pairs] == ["lab_result", "imaging"]
    names = [(meta.name, meta.case_id) for meta in (store.describe("KH-1", doc) for doc, _ in pairs) if meta]
    assert names == [(KHMER, "KH-1"), ("biopsy..v2.png", "KH-1")]


@pytest.mark.parametrize(
    ("parts", "words"),
    [
        ([("file", "a.pdf", b"no type before it")], PAGES.record_type),
        ([*typed("lab_result", "a.pdf", b"one"), ("record_type", "imaging", None)], PAGES.incomplete),
        ([("record_type", "imaging", None), *typed("lab_result", "a.pdf", b"x")], PAGES.incomplete),
        (typed("smo_report", "a.pdf", b"not the member's to send"), PAGES.record_type),
        (typed("lab_result\r\nX: y", "a.pdf", b"x"), PAGES.record_type),
        ([*typed("lab_result", "a.pdf", b"fine"), *typed("imaging", "../b.png", b"x")], PAGES.file_name),
        ([*typed("lab_result", "a.pdf", b"fine"), *typed("imaging", "b.png", b"")], PAGES.empty),
        ([*typed("lab_result", "a", b"1"), *typed("imaging", "b", b"2"), *typed("imaging", "c", b"3")],
         "too many"),
        ([("note", "what is this", None)], PAGES.incomplete),
        ([], "too few"),
    ],
    ids=[
        "file-first", "type-without-file", "two-types", "not-offered", "header-in-type", "path",
        "empty", "cap", "other-field", "nothing",
    ],
)  # fmt: skip
async def test_a_refused_typed_form_keeps_nothing(
    form_site: tuple[str, list[str]], store: DocumentStore, parts: list[Part], words: str
) -> None:
    url, answers = form_site
    status, text = await post(url, *parts)
    assert status == 422, text
    assert answers == [words]
    assert stored_bytes(store) == []
