"""The service's HTTP face: the JSON API, the Web UI's codec endpoint, and how documents leave the store.

- `/api/v1/...` and `/openapi.json`: the token-authenticated API (see `web.app`), when given.
- `/codec/...`: decrypts payloads for the Temporal Web UI, only with a valid token, audited.
- `stream_document` is how every download leaves the store: the emailed document links
  (`/reports/...`, mounted by `web.links`, which checks each link's right on the live case)
  and the portal's downloads. A download carries the document's media type and, for the
  case the document came for only, its own name (runtime/documents.py), always as an
  attachment: saved, never shown or run in the browser.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterator, Mapping
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import Engine

from runtime.blobs import StoreError
from runtime.case_keys import CaseErased
from runtime.clients import client_of
from runtime.db import audit_off_loop
from runtime.documents import DocumentMeta, DocumentStore, extension_for, media_type_for, served_type
from security.codec import EncryptionCodec
from security.codec_server import AuditRecord, build_codec_app
from security.envelope import IntegrityError

# RFC 5987's attr-chars beyond letters, digits and "-._~" (which `quote` never escapes).
_ATTR_CHARS = "!#$&+^`|"
# What the plain `filename="..."` may hold: printable ASCII without a quote, a backslash, a
# semicolon, a percent sign or a path separator, so that no parser can read anything else into it.
_NOT_PLAIN = re.compile(r"[^A-Za-z0-9 !#$&'()+,.=@\[\]^_`{}~-]+")


def attachment(name: str, fallback: str) -> str:
    """The Content-Disposition of a download named `name` (RFC 6266).

    `filename*` carries the name whole, in UTF-8 (RFC 5987: a Khmer name arrives as it was
    sent); `filename` is a plain ASCII spelling for the clients that know no other, made
    from `fallback` (a name of ours) when the name has too little ASCII in it.
    """
    plain = _plain(name)
    stem, dot, extension = plain.rpartition(".")
    if not any(ch.isalnum() for ch in (stem if dot else plain)):
        ours, suffix = _plain(fallback), (dot + extension if dot and extension else "")
        plain = ours if ours.lower().endswith(suffix.lower()) else ours + suffix
    encoded = quote(name, safe=_ATTR_CHARS)
    return f"attachment; filename=\"{plain or 'document'}\"; filename*=UTF-8''{encoded}"


def download_name(
    meta: DocumentMeta | None, fallback: str, *, case_id: str, stored_name: bool = True
) -> tuple[str, str]:
    """The name and media type a download for `case_id` is saved under.

    The name the document came with, only for the case it came for (the same bytes sent for
    another case carry the first sender's name, which may be a patient's) and only where the
    reader may see it (`stored_name`); else `fallback`, the caller's, with the extension of
    the stored type (a type names no one). A document stored without a name: `fallback`, and
    the type its extension implies.
    """
    if meta is None:
        return fallback, media_type_for(fallback)
    media_type = served_type(meta.media_type)
    if stored_name and meta.case_id == case_id:
        return meta.name, media_type
    extension = extension_for(media_type)
    if not extension or media_type_for(fallback) == media_type:
        return fallback, media_type
    return f"{fallback}.{extension}", media_type


def _plain(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_PLAIN.sub("_", folded).strip(" ")


def build_web_app(
    *,
    engine: Engine,
    codec: EncryptionCodec,
    tokens: dict[str, str],
    cors_origins: list[str],
    api: Callable[[web.Application], None] | None = None,
) -> web.Application:
    async def audit_codec(record: AuditRecord) -> None:
        await audit_off_loop(
            engine,
            actor=record.user or "anonymous",
            action=record.action,
            outcome=record.outcome,
            detail=f"{record.payloads} payloads from {record.remote or '?'}",
        )

    app = web.Application()
    if api is not None:
        api(app)
    app.router.add_get("/health", _health)
    app.add_subapp(
        "/codec",
        build_codec_app(codec, tokens=tokens, cors_origins=cors_origins, audit=audit_codec),
    )
    return app


async def stream_document(
    request: web.Request,
    store: DocumentStore,
    doc_id: str,
    filename: str,
    *,
    case_id: str,
    stored_name: bool = True,
    headers: Mapping[str, str] | None = None,
    outcome: Callable[[str], Awaitable[None]] | None = None,
) -> web.StreamResponse:
    """Decrypt and stream one stored document: the one way a document leaves the store over HTTP.

    The emailed document links, the member's report and the specialist's records all come here.
    `case_id` is the case the request is for: the download is named as the document came in
    when it came for that case and `stored_name` allows it, else `filename`, the caller's
    (`download_name`); its media type is the stored one.
    `outcome` hears "served" before the end of the body, so a download that completed is
    always on record; "aborted" when the client went away part-way (it may hold some of the
    bytes, so that is on record too); or "integrity-error" when the bytes do not match their
    id: the headers are gone by then, so the connection is cut and the client sees a failure.
    A store that cannot be reached before the headers are sent is a 503; after, "unavailable"
    and a cut connection, as for an integrity error.
    """
    chunks: Iterator[bytes] = store.open(case_id, doc_id)
    client = client_of(request)
    try:
        meta = await store.io.run(client, store.describe, case_id, doc_id)
    except StoreError:
        raise web.HTTPServiceUnavailable(text="the document store is not reachable; try again") from None
    except CaseErased:
        raise web.HTTPGone(text="the documents of this case were erased") from None
    name, media_type = download_name(meta, filename, case_id=case_id, stored_name=stored_name)
    response = web.StreamResponse(
        headers={
            "Content-Type": media_type,
            "Content-Disposition": attachment(name, filename),
            "Cache-Control": "no-store",
            # Served as bytes to save, never sniffed into something a browser would run.
            "X-Content-Type-Options": "nosniff",
            **(headers or {}),
        }
    )
    await response.prepare(request)
    try:
        # Decrypted on the store's own threads, within the client's share (runtime/documents.py).
        while (chunk := await store.io.run(client, next, chunks, None)) is not None:
            await response.write(chunk)
    except (IntegrityError, StoreError) as exc:
        if outcome is not None:
            await outcome("integrity-error" if isinstance(exc, IntegrityError) else "unavailable")
        if request.transport is not None:
            request.transport.close()
        return response
    except (ConnectionError, asyncio.CancelledError):
        if outcome is not None:
            await asyncio.shield(outcome("aborted"))
        raise
    if outcome is not None:
        await outcome("served")
    await response.write_eof()
    return response


async def _health(_request: web.Request) -> web.Response:
    return web.Response(text="ok")
