"""The service's HTTP face: signed report links on the portal and the audited codec endpoint."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from sqlmodel import Session
from temporalio.client import Client

from models.db import DocumentRow
from runtime.db import audit_trail
from runtime.temporal import converter_for
from runtime.web import build_web_app
from security.codec import EncryptionCodec
from security.links import Right
from tests.conftest import free_port
from web.backends import Backends
from web.links import add_document_links
from worker import Services

REPORT = b"Second opinion: diagnosis confirmed.\n" * 1000
MEMBER = Right.member()


@pytest.fixture
async def portal(services: Services) -> AsyncIterator[str]:
    codec = converter_for(services.settings).payload_codec
    assert isinstance(codec, EncryptionCodec)
    app = build_web_app(
        engine=services.engine,
        codec=codec,
        tokens=services.settings.codec_token_map(),
        cors_origins=services.settings.ui_origins,
    )

    async def no_temporal() -> Client:
        raise AssertionError("a member's report link asks no workflow")

    backends = Backends(services.settings, services.engine, services.store, services.programs, no_temporal)
    add_document_links(app, backends, services.signer)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def registered_report(services: Services, case_id: str) -> str:
    stored = services.store.put_bytes(REPORT, case_id)
    with Session(services.engine) as session:
        session.add(
            DocumentRow(case_id=case_id, doc_id=stored.doc_id, record_type="smo_report", size=stored.size)
        )
        session.commit()
    return stored.doc_id


def local(url: str, base: str) -> str:
    parts = urlsplit(url)
    return f"{base}{parts.path}?{parts.query}"


async def test_the_customer_downloads_the_report_with_a_valid_link(portal: str, services: Services) -> None:
    doc_id = registered_report(services, "WEB-1")
    url = services.signer.sign("WEB-1", doc_id, MEMBER, datetime.now(UTC) + timedelta(hours=1))
    async with aiohttp.ClientSession() as http, http.get(local(url, portal)) as resp:
        assert resp.status == 200
        body = await resp.read()
    assert hashlib.sha256(body).hexdigest() == doc_id and body == REPORT
    assert [(r.action, r.outcome) for r in audit_trail(services.engine, "WEB-1")] == [
        ("document.download", "served")
    ]


async def test_a_tampered_link_is_refused(portal: str, services: Services) -> None:
    doc_id = registered_report(services, "WEB-2")
    url = local(services.signer.sign("WEB-2", doc_id, MEMBER, datetime.now(UTC) + timedelta(hours=1)), portal)
    other = registered_report(services, "WEB-OTHER")
    async with aiohttp.ClientSession() as http:
        async with http.get(url.replace("WEB-2", "WEB-OTHER").replace(doc_id, other)) as resp:
            assert resp.status == 403
        async with http.get(url[:-4] + "0000") as resp:
            assert resp.status == 403
            assert REPORT[:20] not in await resp.read()


async def test_an_expired_link_is_refused(portal: str, services: Services) -> None:
    doc_id = registered_report(services, "WEB-3")
    url = services.signer.sign("WEB-3", doc_id, MEMBER, datetime.now(UTC) - timedelta(seconds=1))
    async with aiohttp.ClientSession() as http, http.get(local(url, portal)) as resp:
        assert resp.status == 410
    assert ("document.download", "expired") in [
        (r.action, r.outcome) for r in audit_trail(services.engine, "WEB-3")
    ]


async def test_a_link_for_a_document_not_on_the_case_finds_nothing(portal: str, services: Services) -> None:
    # Stored for the case yet never registered on it, or stored for another case only.
    unregistered = services.store.put_bytes(b"a record the case never took", "WEB-4")
    elsewhere = services.store.put_bytes(b"someone else's record", "WEB-ELSE")
    async with aiohttp.ClientSession() as http:
        for stored in (unregistered, elsewhere):
            url = services.signer.sign("WEB-4", stored.doc_id, MEMBER, datetime.now(UTC) + timedelta(hours=1))
            async with http.get(local(url, portal)) as resp:
                assert resp.status == 404


async def test_codec_endpoint_decodes_for_a_token_and_audits_every_request(
    portal: str, services: Services
) -> None:
    from google.protobuf.json_format import MessageToDict
    from sqlmodel import select

    from models.db import AuditEvent

    converter = converter_for(services.settings)
    assert converter.payload_codec is not None
    (plain,) = converter.payload_converter.to_payloads(["Sokha Chan"])
    (encrypted,) = await converter.payload_codec.encode([plain])
    body = {"payloads": [MessageToDict(encrypted)]}
    token = next(iter(services.settings.codec_token_map()))
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{portal}/codec/t/{token}/decode", json=body) as resp:
            assert resp.status == 200
            decoded = (await resp.json())["payloads"][0]
            assert base64.b64decode(decoded["data"]) == b'"Sokha Chan"'
        async with http.post(f"{portal}/codec/decode", json=body) as resp:
            assert resp.status == 401
        async with http.post(
            f"{portal}/codec/decode", json=body, headers={"Authorization": "Bearer " + "x" * 24}
        ) as resp:
            assert resp.status == 403
    with Session(services.engine) as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.action == "codec.decode")).all()
    assert [(r.actor, r.outcome) for r in rows] == [
        ("supervisor", "allowed"),
        ("anonymous", "missing-token"),
        ("anonymous", "bad-token"),
    ]


def test_the_audit_trail_refuses_updates_and_deletes(services: Services) -> None:
    from sqlalchemy.exc import DatabaseError

    from runtime.db import audit

    audit(services.engine, actor="dara", action="case.open", outcome="accepted", case_id="AUD-1")
    with services.engine.connect() as conn:
        with pytest.raises(DatabaseError, match="append-only"):
            conn.exec_driver_sql("UPDATE audit_events SET outcome = 'forged'")
        conn.rollback()
        with pytest.raises(DatabaseError, match="append-only"):
            conn.exec_driver_sql("DELETE FROM audit_events")
    assert [r.outcome for r in audit_trail(services.engine, "AUD-1")] == ["accepted"]
