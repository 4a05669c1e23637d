"""The service's HTTP face: the JSON API, the Web UI's codec endpoint, and how documents leave the store.

- `/api/v1/...` and `/openapi.json`: the token-authenticated API (see `web.app`), when given.
- `/codec/...`: decrypts payloads for the Temporal Web UI, only with a valid token, audited.
- `stream_document` is how every download leaves the store: the emailed document links
  (`/reports/...`, mounted by `web.links`, which checks each link's right on the live case)
  and the portal's downloads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping

from aiohttp import web
from sqlalchemy import Engine

from runtime.clients import client_of
from runtime.db import audit_off_loop
from runtime.documents import DocumentStore
from security.codec import EncryptionCodec
from security.codec_server import AuditRecord, build_codec_app
from security.envelope import IntegrityError


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
    headers: Mapping[str, str] | None = None,
    outcome: Callable[[str], Awaitable[None]] | None = None,
) -> web.StreamResponse:
    """Decrypt and stream one stored document: the one way a document leaves the store over HTTP.

    The emailed document links, the member's report and the specialist's records all come here.
    `outcome` hears "served" before the end of the body, so a download that completed is
    always on record; "aborted" when the client went away part-way (it may hold some of the
    bytes, so that is on record too); or "integrity-error" when the bytes do not match their
    id: the headers are gone by then, so the connection is cut and the client sees a failure.
    """
    chunks: Iterator[bytes] = store.open(doc_id)
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            # Served as bytes to save, never sniffed into something a browser would run.
            "X-Content-Type-Options": "nosniff",
            **(headers or {}),
        }
    )
    await response.prepare(request)
    try:
        # Decrypted on the store's own threads, within the client's share (runtime/documents.py).
        while (chunk := await store.io.run(client_of(request), next, chunks, None)) is not None:
            await response.write(chunk)
    except IntegrityError:
        if outcome is not None:
            await outcome("integrity-error")
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
