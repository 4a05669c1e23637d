"""Scenarios for the Web UI remote codec endpoint, against a real local server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from security.codec import EncryptionCodec
from security.codec_server import AuditRecord, build_codec_app
from security.keys import KeyRing

ALICE_TOKEN = "alice-token-0123456789abcdef"
UI_ORIGIN = "http://localhost:8233"
SECRET_TEXT = b'{"patient_name": "Marguerite Fictional"}'


async def serve(app: web.Application) -> web.AppRunner:
    """Serve the codec app alone on an ephemeral port (``runner.addresses``); ``cleanup()`` stops it."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


@dataclass
class Server:
    base: str
    codec: EncryptionCodec
    audit: list[AuditRecord] = field(default_factory=list)


@pytest_asyncio.fixture
async def server() -> AsyncIterator[Server]:
    codec = EncryptionCodec(KeyRing.parse(KeyRing.generate_spec("k1")))
    records: list[AuditRecord] = []

    async def audit(record: AuditRecord) -> None:
        records.append(record)

    app = build_codec_app(
        codec,
        tokens={ALICE_TOKEN: "alice"},
        cors_origins=[UI_ORIGIN],
        audit=audit,
    )
    runner = await serve(app)
    host, port = runner.addresses[0][:2]
    try:
        yield Server(f"http://{host}:{port}", codec, records)
    finally:
        await runner.cleanup()


async def _encrypted_body(codec: EncryptionCodec) -> dict[str, object]:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=SECRET_TEXT)
    encrypted = await codec.encode([plain])
    return {"payloads": [json_format.MessageToDict(p) for p in encrypted]}


def _payloads(body: dict[str, list[dict[str, object]]]) -> list[Payload]:
    return [json_format.ParseDict(p, Payload()) for p in body["payloads"]]


@pytest.mark.asyncio
async def test_bearer_token_decodes_and_is_audited(server: Server) -> None:
    body = await _encrypted_body(server.codec)
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{server.base}/decode",
            json=body,
            headers={
                "Authorization": f"Bearer {ALICE_TOKEN}",
                "X-Namespace": "default",
            },
        )
        assert resp.status == 200
        (decoded,) = _payloads(await resp.json())
    assert decoded.data == SECRET_TEXT
    assert decoded.metadata["encoding"] == b"json/plain"
    assert server.audit == [
        AuditRecord(
            user="alice",
            action="codec.decode",
            outcome="allowed",
            payloads=1,
            remote="127.0.0.1",
        )
    ]


@pytest.mark.asyncio
async def test_token_in_path_decodes_for_the_dev_web_ui(server: Server) -> None:
    body = await _encrypted_body(server.codec)
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{server.base}/t/{ALICE_TOKEN}/decode",
            json=body,
            headers={"Origin": UI_ORIGIN},
        )
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
        assert resp.headers["Access-Control-Allow-Credentials"] == "true"
        (decoded,) = _payloads(await resp.json())
    assert decoded.data == SECRET_TEXT
    assert [r.outcome for r in server.audit] == ["allowed"]
    assert server.audit[0].user == "alice"


@pytest.mark.asyncio
async def test_encode_round_trips_through_decode(server: Server) -> None:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"hello"')
    headers = {"Authorization": f"Bearer {ALICE_TOKEN}"}
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{server.base}/encode",
            json={"payloads": [json_format.MessageToDict(plain)]},
            headers=headers,
        )
        assert resp.status == 200
        encoded = await resp.json()
        (sealed,) = _payloads(encoded)
        assert sealed.metadata["encoding"] == b"binary/encrypted"
        resp = await http.post(f"{server.base}/decode", json=encoded, headers=headers)
        assert _payloads(await resp.json()) == [plain]
    assert [r.action for r in server.audit] == ["codec.encode", "codec.decode"]


@pytest.mark.asyncio
async def test_missing_token_is_401_and_audited(server: Server) -> None:
    body = await _encrypted_body(server.codec)
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{server.base}/decode", json=body)
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == "Bearer"
        assert b"Marguerite" not in await resp.read()
        resp = await http.post(
            f"{server.base}/decode", json=body, headers={"Authorization": "Basic abc"}
        )
        assert resp.status == 401
    assert (
        server.audit
        == [
            AuditRecord(
                user=None,
                action="codec.decode",
                outcome="missing-token",
                payloads=0,
                remote="127.0.0.1",
            )
        ]
        * 2
    )


@pytest.mark.asyncio
async def test_bad_token_is_403_reveals_nothing_and_is_audited(server: Server) -> None:
    body = await _encrypted_body(server.codec)
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{server.base}/decode",
            json=body,
            headers={"Authorization": "Bearer wrong-token-0123456789"},
        )
        assert resp.status == 403
        assert b"Marguerite" not in await resp.read()
        resp = await http.post(f"{server.base}/t/{ALICE_TOKEN}x/decode", json=body)
        assert resp.status == 403
        assert b"Marguerite" not in await resp.read()
    assert [(r.user, r.outcome, r.payloads) for r in server.audit] == [
        (None, "bad-token", 0),
        (None, "bad-token", 0),
    ]


@pytest.mark.asyncio
async def test_cors_preflight_only_for_configured_origin(server: Server) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    async with aiohttp.ClientSession() as http:
        for path in ("/decode", f"/t/{ALICE_TOKEN}/decode", "/encode"):
            resp = await http.options(
                f"{server.base}{path}", headers={**preflight, "Origin": UI_ORIGIN}
            )
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
            assert resp.headers["Access-Control-Allow-Methods"] == "POST"
            assert resp.headers["Access-Control-Allow-Headers"] == (
                "content-type,x-namespace,authorization"
            )
            assert resp.headers["Access-Control-Allow-Credentials"] == "true"

        resp = await http.options(
            f"{server.base}/decode",
            headers={**preflight, "Origin": "https://evil.example"},
        )
        assert "Access-Control-Allow-Origin" not in resp.headers
        assert "Access-Control-Allow-Credentials" not in resp.headers
    # Preflights carry no credentials and are not decode attempts.
    assert server.audit == []


@pytest.mark.asyncio
async def test_refusals_still_carry_cors_headers_for_the_ui(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{server.base}/decode",
            json={"payloads": []},
            headers={"Origin": UI_ORIGIN},
        )
        assert resp.status == 401
        assert resp.headers["Access-Control-Allow-Origin"] == UI_ORIGIN


@pytest.mark.asyncio
async def test_health_needs_no_token(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        resp = await http.get(f"{server.base}/health")
        assert resp.status == 200
        assert await resp.text() == "ok"


@pytest.mark.asyncio
async def test_malformed_body_and_tampered_payload_are_400(server: Server) -> None:
    headers = {"Authorization": f"Bearer {ALICE_TOKEN}"}
    body = await _encrypted_body(server.codec)
    body["payloads"][0]["data"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"  # type: ignore[index]
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{server.base}/decode", data=b"not json", headers=headers
        )
        assert resp.status == 400
        resp = await http.post(f"{server.base}/decode", json=body, headers=headers)
        assert resp.status == 400
        assert (await resp.json()) == {"error": "codec.decode failed"}


@pytest.mark.asyncio
async def test_failing_audit_sink_blocks_decryption() -> None:
    codec = EncryptionCodec(KeyRing.parse(KeyRing.generate_spec("k1")))

    async def broken_audit(record: AuditRecord) -> None:
        raise OSError("audit store unavailable")

    app = build_codec_app(
        codec, tokens={ALICE_TOKEN: "alice"}, cors_origins=[], audit=broken_audit
    )
    runner = await serve(app)
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession() as http:
            resp = await http.post(
                f"http://{host}:{port}/decode",
                json=await _encrypted_body(codec),
                headers={"Authorization": f"Bearer {ALICE_TOKEN}"},
            )
            assert resp.status == 500
            assert b"Marguerite" not in await resp.read()
    finally:
        await runner.cleanup()


def test_unsafe_configuration_is_refused() -> None:
    codec = EncryptionCodec(KeyRing.parse(KeyRing.generate_spec("k1")))
    with pytest.raises(ValueError, match="at least one"):
        build_codec_app(codec, tokens={}, cors_origins=[])
    with pytest.raises(ValueError, match="at least 16"):
        build_codec_app(codec, tokens={"short": "bob"}, cors_origins=[])
    with pytest.raises(ValueError, match="'/'"):
        build_codec_app(codec, tokens={"a/" + "x" * 20: "bob"}, cors_origins=[])
    with pytest.raises(ValueError, match="explicit origins"):
        build_codec_app(codec, tokens={ALICE_TOKEN: "alice"}, cors_origins=["*"])
