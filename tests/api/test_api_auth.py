"""Who may do what: tokens (401), roles (403) and program scope (404 as for a missing case)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from models.users import Role
from tests.api.conftest import MEMBER, LiveApi
from tests.polling import eventually


async def test_every_get_with_a_case_id_answers_401_without_a_token(live_api: LiveApi) -> None:
    token = live_api.token("ops-sup", Role.SUPERVISOR)
    await live_api.open_case(live_api.token("opener"), "AUTH-1")
    status, doc, _ = await live_api.call("GET", "/openapi.json")
    assert status == 200
    # The document's schemas are the pydantic models the handlers validate against (a model
    # whose input and output shapes differ appears as `Name-Input` and `Name-Output`).
    names = {n.removesuffix("-Input").removesuffix("-Output") for n in doc["components"]["schemas"]}
    assert {"OpenCase", "MemberDetails", "DetailsChange", "CaseStatus", "ActionResult", "ErrorBody"} <= names
    gets = [p for p, ops in doc["paths"].items() if "{case_id}" in p and "get" in ops]
    assert len(gets) >= 2, gets
    for path in gets:
        concrete = path.replace("{case_id}", "AUTH-1")
        status, body, resp = await live_api.call("GET", concrete)
        assert status == 401 and body["error"].startswith("a valid API token"), (path, body)
        assert resp.headers["WWW-Authenticate"] == "Bearer"
        # Consult slots are the booking desk's: coordinators only, like booking itself.
        expected = 403 if path.endswith("/consults/slots") else 200
        # An open case has no erasure: its stub answers 404 until the case is erased.
        expected = 404 if path.endswith("/erasure") else expected
        assert (await live_api.call("GET", concrete, token))[0] == expected, path


def _tamper(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


@pytest.mark.parametrize("kind", ["expired", "revoked", "malformed", "tampered", "not bearer", "empty"])
async def test_an_expired_revoked_or_malformed_token_gets_401(live_api: LiveApi, kind: str) -> None:
    past = datetime.now(UTC) - timedelta(days=2)
    if kind == "expired":
        header = f"Bearer {live_api.token('old', lifetime=timedelta(days=1), now=past)}"
    elif kind == "revoked":
        token = live_api.token("gone")
        live_api.tokens.revoke("gone")
        header = f"Bearer {token}"
    elif kind == "malformed":
        header = "Bearer smo_../../etc/passwd%00"
    elif kind == "tampered":
        header = f"Bearer {_tamper(live_api.token('real'))}"
    elif kind == "not bearer":
        header = f"Basic {live_api.token('basic')}"
    else:
        header = "Bearer "
    status, body, _ = await live_api.call("GET", "/api/v1/cases", headers={"Authorization": header})
    assert status == 401, body
    assert set(body) == {"error", "request_id"}


async def test_a_coordinator_may_not_cancel_or_override_but_a_supervisor_may_cancel(
    live_api: LiveApi,
) -> None:
    coordinator, supervisor = live_api.token("coord"), live_api.token("boss", Role.SUPERVISOR)
    await live_api.open_case(coordinator, "ROLE-1")
    for action in ("cancel", "override"):
        status, body, _ = await live_api.call(
            "POST", f"/api/v1/cases/ROLE-1/{action}", coordinator, json={"reason": "member withdrew"}
        )
        assert status == 403 and "coordinator may not" in body["error"], body
    status, body, _ = await live_api.call(
        "POST", "/api/v1/cases/ROLE-1/cancel", supervisor, json={"reason": "member withdrew"}
    )
    assert status == 200, body

    async def cancelled() -> bool:
        return bool(
            (await live_api.call("GET", "/api/v1/cases/ROLE-1", supervisor))[1]["stage"] == "CANCELLED"
        )

    await eventually(cancelled, bool)
    status, body, _ = await live_api.call("POST", "/api/v1/cases", supervisor, json={})
    assert status == 403, body  # supervisors read and correct; coordinators open


async def test_a_user_scoped_to_one_program_guessing_another_programs_case_gets_404_as_for_a_missing_one(
    live_api: LiveApi,
) -> None:
    await live_api.open_case(
        live_api.token("aa-coord", programs=["assist-america"]), "AA-SCOPE-1", "assist-america"
    )
    kh = live_api.token("kh-coord", programs=["prudential-kh"])
    kh_sup = live_api.token("kh-sup", Role.SUPERVISOR, programs=["prudential-kh"])
    for token in (kh, kh_sup):
        for path in ("", "/audit"):
            hidden = await live_api.call("GET", f"/api/v1/cases/AA-SCOPE-1{path}", token)
            missing = await live_api.call("GET", f"/api/v1/cases/AA-NOPE-1{path}", token)
            assert hidden[0] == missing[0] == 404
            assert hidden[1]["error"].replace("AA-SCOPE-1", "X") == missing[1]["error"].replace(
                "AA-NOPE-1", "X"
            )
        status, body, _ = await live_api.call(
            "POST", "/api/v1/cases/AA-SCOPE-1/specialist", token, json={"specialist_id": "SP-ONC-001"}
        )
        assert status == 404, body
        status, body, _ = await live_api.call("GET", "/api/v1/cases", token)
        assert status == 200 and "AA-SCOPE-1" not in [c["case_id"] for c in body["cases"]]
    # The case is there, for a token of its program.
    aa = live_api.token("aa-reader", programs=["assist-america"])
    assert (await live_api.call("GET", "/api/v1/cases/AA-SCOPE-1", aa))[0] == 200
    status, body, _ = await live_api.call("POST", "/api/v1/cases", kh, json={"program": "assist-america"})
    assert status in (403, 422), body
    # Choosing the other program's case id when opening says nothing about that case.
    reuse = {"program": "prudential-kh", "details": MEMBER, "case_id": "AA-SCOPE-1"}
    status, body, _ = await live_api.call("POST", "/api/v1/cases", kh, json=reuse)
    assert (status, body["error"]) == (409, "that case id is not available; choose another")


async def test_each_response_carries_a_request_id_the_callers_when_sane(live_api: LiveApi) -> None:
    token = live_api.token("rid")
    _, body, resp = await live_api.call(
        "GET", "/api/v1/cases/NOPE-123", token, headers={"X-Request-Id": "abc-123"}
    )
    assert resp.headers["X-Request-Id"] == "abc-123" and body["request_id"] == "abc-123"
    _, _, resp = await live_api.call(
        "GET", "/api/v1/cases", token, headers={"X-Request-Id": "<script>" + "x" * 100}
    )
    assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["X-Request-Id"])


async def test_the_audit_trail_records_the_tokens_user(live_api: LiveApi) -> None:
    token = live_api.token("sokun")
    await live_api.open_case(token, "WHO-1")
    await live_api.call("POST", "/api/v1/cases/WHO-1/records/complete", token, json={})
    status, body, _ = await live_api.call("GET", "/api/v1/cases/WHO-1/audit", token)
    assert status == 200
    mine = [(e["actor"], e["action"], e["outcome"]) for e in body["events"] if e["actor"] == "sokun"]
    assert ("sokun", "case.open", "GATHERING_RECORDS") in mine
    assert ("sokun", "records.complete", "refused") in mine
