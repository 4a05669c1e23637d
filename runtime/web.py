"""The service's HTTP face: the JSON API, the Web UI's codec endpoint and the signed report portal.

- `/api/v1/...` and `/openapi.json`: the token-authenticated API (see `web.app`), when given.
- `/codec/...`: decrypts payloads for the Temporal Web UI, only with a valid token, audited.
- `/reports/{case}/{doc}?exp=&sig=`: streams a decrypted document to whoever holds an
  unexpired, untampered link (the report email carries one), audited. `stream_document`
  is how every download leaves the store, the portal's too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy import Engine
from sqlmodel import Session

from models.db import DocumentRow
from runtime.db import audit
from runtime.documents import DocumentStore
from security.codec import EncryptionCodec
from security.codec_server import AuditRecord, build_codec_app
from security.envelope import IntegrityError
from security.links import LinkExpired, LinkInvalid, LinkSigner


def build_web_app(
    *,
    engine: Engine,
    store: DocumentStore,
    signer: LinkSigner,
    codec: EncryptionCodec,
    tokens: dict[str, str],
    cors_origins: list[str],
    api: Callable[[web.Application], None] | None = None,
) -> web.Application:
    async def audit_codec(record: AuditRecord) -> None:
        await asyncio.to_thread(
            audit,
            engine,
            actor=record.user or "anonymous",
            action=record.action,
            outcome=record.outcome,
            detail=f"{record.payloads} payloads from {record.remote or '?'}",
        )

    async def report(request: web.Request) -> web.StreamResponse:
        case_id, doc_id = request.match_info["case_id"], request.match_info["doc_id"]

        async def record(outcome: str) -> None:
            # A served document is named on the trail; a refused link names only the case.
            await asyncio.to_thread(
                audit,
                engine,
                actor="link",
                action="document.download",
                outcome=outcome,
                case_id=case_id,
                detail=doc_id[:12] if outcome == "served" else "",
            )

        try:
            signer.verify(
                case_id,
                doc_id,
                request.query.get("exp", ""),
                request.query.get("sig", ""),
                now=datetime.now(UTC),
            )
        except LinkExpired:
            await record("expired")
            raise web.HTTPGone(text="this link has expired; ask us for a new one\n") from None
        except LinkInvalid:
            await record("bad-signature")
            raise web.HTTPForbidden(text="invalid link\n") from None

        def registered() -> bool:
            with Session(engine) as session:
                return session.get(DocumentRow, (case_id, doc_id)) is not None

        if not await asyncio.to_thread(registered):
            raise web.HTTPNotFound(text="no such document\n")
        return await stream_document(request, store, doc_id, f"{case_id}-{doc_id[:12]}", outcome=record)

    app = web.Application()
    if api is not None:
        api(app)
    app.router.add_get("/reports/{case_id}/{doc_id}", report)
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

    The signed report links, the member's report and the specialist's records all come here.
    `outcome` hears "served" before the end of the body, so a download that completed is
    always on record, or "integrity-error" when the bytes do not match their id: the headers
    are gone by then, so the connection is cut and the client sees a failure.
    """
    chunks: Iterator[bytes] = store.open(doc_id)
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            **(headers or {}),
        }
    )
    await response.prepare(request)
    try:
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            await response.write(chunk)
    except IntegrityError:
        if outcome is not None:
            await outcome("integrity-error")
        if request.transport is not None:
            request.transport.close()
        return response
    if outcome is not None:
        await outcome("served")
    await response.write_eof()
    return response


async def _health(_request: web.Request) -> web.Response:
    return web.Response(text="ok")
