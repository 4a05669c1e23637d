"""What an attacker or a careless client sends: oversized bodies, odd file names and paths,
PHI-bearing mistakes. Each gets a specific 4xx JSON answer, and nothing is stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from models.users import Role
from tests.api.conftest import MEMBER, LiveApi
from tests.conftest import free_port


def multipart(*parts: tuple[bytes, bytes], boundary: str = "b0undary") -> tuple[bytes, dict[str, str]]:
    """A hand-built multipart body, so the name goes on the wire exactly as given."""
    body = b""
    for filename, content in parts:
        body += (
            f"--{boundary}\r\n".encode()
            + b'Content-Disposition: form-data; name="file"; filename="'
            + filename
            + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
            + content
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def stored(live_api: LiveApi) -> set[Path]:
    """Every document and name in the store (each case's under `cases/`), not the spool."""
    root = live_api.services.store.root
    return {p for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] != "tmp"}


async def test_a_json_body_over_the_limit_gets_413(live_api: LiveApi) -> None:
    token = live_api.token("big")
    huge = {"program": "prudential-kh", "details": {**MEMBER, "diagnosis_text": "x" * (2 << 20)}}
    status, body, _ = await live_api.call("POST", "/api/v1/cases", token, json=huge)
    assert status == 413 and body["error"] == "the body is too large", body


@pytest.mark.parametrize(
    "name",
    [
        b"../../etc/passwd",
        b"..",
        b"a\x00b.pdf",
        b"scan\x01.pdf",
        b"line\x1bbreak.pdf",
        b"dir/file.pdf",
        b"c:\\\\x.pdf",
    ],
    ids=["dotdot-path", "dotdot", "nul", "control", "escape", "slash", "backslash"],
)
async def test_an_upload_whose_file_name_has_dots_nul_or_control_characters_is_refused(
    live_api: LiveApi, name: bytes
) -> None:
    token = live_api.token("names")
    await live_api.open_case(token, "NAME-1")
    before = stored(live_api)
    data, headers = multipart((b"fine.pdf", b"first record"), (name, b"second record"))
    status, body, _ = await live_api.call(
        "POST", "/api/v1/cases/NAME-1/records?record_type=biopsy_report", token, data=data, headers=headers
    )
    assert status in (400, 422), body
    if status == 422:
        assert "file name" in body["error"] or "multipart" in body["error"], body
    assert stored(live_api) == before, "a refused upload left documents in the store"


@pytest.mark.parametrize("case_id", ["..", "..%2F..%2Fetc", "KH..1", "a%00b", "x%0Ay", "%2e%2e"])
async def test_a_case_id_with_dots_nul_or_control_characters_is_no_case(
    live_api: LiveApi, case_id: str
) -> None:
    token = live_api.token("paths")
    status, body, _ = await live_api.call("GET", f"/api/v1/cases/{case_id}", token)
    assert status == 404, body
    assert isinstance(body, dict) and "error" in body, body


async def test_a_nul_in_a_query_or_a_body_is_refused_with_422_before_it_reaches_the_database(
    live_api: LiveApi,
) -> None:
    # Found by the API fuzzer: `GET /api/v1/audit?action=%00` was a DataError on PostgreSQL, a 500.
    supervisor = live_api.token("nul-sup", Role.SUPERVISOR)
    status, body, _ = await live_api.call("GET", "/api/v1/audit", supervisor, params={"action": "case\x00"})
    assert (status, body["error"]) == (422, "the query may not contain NUL characters"), body
    status, body, _ = await live_api.call(
        "GET", "/api/v1/specialists", supervisor, params={"specialty": "\x00"}
    )
    assert status == 422, body
    coordinator = live_api.token("nul-coord")
    details = {**MEMBER, "patient_name": "Sokha\x00Chan"}
    status, body, _ = await live_api.call(
        "POST", "/api/v1/cases", coordinator, json={"program": "prudential-kh", "details": details}
    )
    assert (status, body["error"]) == (422, "the body may not contain NUL characters"), body
    assert not stored(live_api), "a refused open stored the member's details"
    status, _, _ = await live_api.call("GET", "/api/v1/audit", supervisor, params={"action": "case.open"})
    assert status == 200


async def test_error_bodies_name_the_field_but_never_the_members_details_or_a_traceback(
    live_api: LiveApi,
) -> None:
    token = live_api.token("phi")
    secrets = {
        "email": "sokha.chan.private@@example",
        "date_of_birth": "1968-02-30",
        "icd10": "ZZ9.SOKHA",
        "patient_name": "S" * 500,
    }
    for field, value in secrets.items():
        details = {**MEMBER, field: value}
        status, body, _ = await live_api.call(
            "POST", "/api/v1/cases", token, json={"program": "prudential-kh", "details": details}
        )
        assert status == 422, body
        assert field in body["error"], body
        assert value not in body["error"] and "Traceback" not in str(body), body
    status, body, _ = await live_api.call(
        "POST", "/api/v1/cases", token, data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert status == 422 and body["error"] == "the body must be JSON"
    assert not stored(live_api), "a refused open stored the member's details"


async def test_a_refusal_by_the_case_keeps_the_validators_exact_words_as_a_409(live_api: LiveApi) -> None:
    token = live_api.token("refusal")
    await live_api.open_case(token, "REFUSE-1")
    status, body, _ = await live_api.call("POST", "/api/v1/cases/REFUSE-1/records/complete", token, json={})
    assert status == 409, body
    assert body["error"] == "no records have been added yet", body
    status, body, _ = await live_api.call(
        "POST", "/api/v1/cases/REFUSE-1/consults", token, json={"slot": "2026-12-14T09:00"}
    )
    assert status == 422 and "time zone" in body["error"], body


async def test_a_refused_upload_leaves_nothing_in_the_store(live_api: LiveApi) -> None:
    token = live_api.token("report")
    await live_api.open_case(token, "REPORT-1")
    before = stored(live_api)
    data, headers = multipart((b"report.pdf", b"a report too early"))
    status, body, _ = await live_api.call(
        "POST", "/api/v1/cases/REPORT-1/report?specialist_id=SP-ONC-001", token, data=data, headers=headers
    )
    assert status == 409, body
    assert stored(live_api) == before


async def test_the_codec_endpoint_and_report_links_keep_their_own_answers_next_to_the_api(
    live_api: LiveApi,
) -> None:
    status, body, resp = await live_api.call("POST", "/codec/decode", json={"payloads": []})
    assert (status, body) == (401, {"error": "missing token"}) and resp.headers[
        "WWW-Authenticate"
    ] == "Bearer"
    doc_id = "0" * 64
    status, body, _ = await live_api.call("GET", f"/reports/WEB-1/{doc_id}?exp=1&sig=x")
    assert status == 403 and "This link is not valid" in body
    status, body, resp = await live_api.call("GET", "/api/v1/no-such-thing", live_api.token("lost"))
    assert status == 404 and set(body) == {"error", "request_id"} and resp.headers["X-Request-Id"]


async def test_an_update_while_the_mail_server_is_unreachable_answers_at_once_and_the_notice_waits(
    live_api: LiveApi,
) -> None:
    token = live_api.token("slowmail")
    await live_api.open_case(token, "SLOW-1")
    live_api.services.mailer.port = free_port()  # the team's notice cannot go out
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, body, _ = await live_api.call(
        "PUT", "/api/v1/cases/SLOW-1/details", token, json={**MEMBER, "phone": "+855 12 000 000"}
    )
    # The update records the notice as owed and answers; it never waits on the mail server
    # (the bound is generous for a loaded machine: the mail retry policy alone is a minute).
    assert loop.time() - started < 20
    assert status == 200 and body["done"] is True, body
    status, case, _ = await live_api.call("GET", "/api/v1/cases/SLOW-1", token)
    assert status == 200
    assert any(p.startswith("email ") for p in case["pending"]), case["pending"]
    status, body, _ = await live_api.call("GET", "/api/v1/cases/SLOW-1/audit", token)
    assert ("case.update_details", "accepted") in [(e["action"], e["outcome"]) for e in body["events"]]
