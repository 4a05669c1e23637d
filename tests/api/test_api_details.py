"""`POST /api/v1/cases/{id}/details`: the desk changes a case's language, email or phone.

What changes is only what was named; the rest of the member's sheet stays. And what an
attacker or a careless client would try instead: unknown fields, nothing to change, null,
a language the service cannot speak, a phone with words in it, the wrong role, a case out
of the token's programs, a case that has ended, a body too large or not JSON. Every refusal
is a 4xx that repeats nothing the caller sent and leaves nothing in the store.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import ANY

import pytest

import service
from models.input_text import PHONE_RULE
from models.intake import PatientIntake
from models.users import Role
from tests.api.conftest import MEMBER, LiveApi
from tests.api.test_api_edges import stored
from tests.polling import eventually

PATH = "/api/v1/cases/{}/details"


async def sheet(live_api: LiveApi, case_id: str) -> PatientIntake:
    return await service.current_details(live_api.env.client, live_api.services.store, case_id)


async def change(live_api: LiveApi, token: str, case_id: str, body: Any, **kw: Any) -> tuple[int, Any]:
    status, answer, _ = await live_api.call("POST", PATH.format(case_id), token, json=body, **kw)
    return status, answer


async def test_the_language_alone_changes_and_the_rest_of_the_sheet_stays(live_api: LiveApi) -> None:
    desk = live_api.token("lang-desk")
    await live_api.open_case(desk, "LANG-1", phone="+855 12 345 678", sex="female")
    before = await sheet(live_api, "LANG-1")
    assert before.language == "en"
    status, body = await change(live_api, desk, "LANG-1", {"language": "km"})
    assert status == 200 and body["case_id"] == "LANG-1" and body["done"], body
    after = await sheet(live_api, "LANG-1")
    assert after.language == "km"
    assert after.model_dump(exclude={"language"}) == before.model_dump(exclude={"language"})
    _, trail, _ = await live_api.call("GET", "/api/v1/cases/LANG-1/audit", desk)
    assert ("lang-desk", "case.language", "accepted") in {
        (e["actor"], e["action"], e["outcome"]) for e in trail["events"]
    }


async def test_the_phone_or_the_email_changes_alone_and_an_empty_phone_removes_it(live_api: LiveApi) -> None:
    desk = live_api.token("contact-desk")
    await live_api.open_case(desk, "CONTACT-1", phone="+855 12 345 678", language="km")
    assert (await change(live_api, desk, "CONTACT-1", {"phone": "012 999 888"}))[0] == 200
    assert (await sheet(live_api, "CONTACT-1")).phone == "012 999 888"
    assert (await change(live_api, desk, "CONTACT-1", {"email": "new@example.com"}))[0] == 200
    now = await sheet(live_api, "CONTACT-1")
    assert (now.email, now.phone, now.language) == ("new@example.com", "012 999 888", "km")
    assert (await change(live_api, desk, "CONTACT-1", {"phone": ""}))[0] == 200
    assert (await sheet(live_api, "CONTACT-1")).phone == ""
    _, trail, _ = await live_api.call("GET", "/api/v1/cases/CONTACT-1/audit", desk)
    assert [e["action"] for e in trail["events"]].count("case.update_details") == 3


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "body: give at least one of language, email, phone"),
        ({"language": None}, "body: give at least one of language, email, phone"),
        ({"language": "fr"}, "body.language: the service speaks en and km"),
        ({"language": "km-KH"}, "body.language: the service speaks en and km"),
        ({"language": ["km"]}, "body.language: the service speaks en and km"),
        ({"language": {"code": "km"}}, "body.language: the service speaks en and km"),
        ({"phone": "012 345 678 ext 5"}, f"body.phone: {PHONE_RULE}"),
        ({"phone": "+855 12 345 678 <script>"}, f"body.phone: {PHONE_RULE}"),
        ({"email": "sokha.chan@example.test"}, "body.email: value is not a valid email address"),
        ({"language": "km", "patient_name": "Someone Else"}, "body: takes no such field"),
        ({"language": "km", "by": "supervisor:root"}, "body: takes no such field"),
        (["language", "km"], "body: Input should be a valid dictionary or instance of DetailsChange"),
    ],
    ids=[
        "empty",
        "null",
        "french",
        "tag",
        "list-language",
        "object-language",
        "extension",
        "markup",
        "reserved-domain",
        "name",
        "actor",
        "list",
    ],
)
async def test_a_change_that_breaks_a_rule_is_a_422_that_repeats_nothing_and_stores_nothing(
    live_api: LiveApi, body: Any, error: str
) -> None:
    desk = live_api.token("rules-desk")
    await live_api.open_case(desk, "RULES-1")
    before = (stored(live_api), await sheet(live_api, "RULES-1"))
    status, answer = await change(live_api, desk, "RULES-1", body)
    assert status == 422 and answer["error"].startswith(error), answer
    for sent in ("ext 5", "script", "Someone", "sokha", "root"):
        assert sent not in answer["error"]
    assert (stored(live_api), await sheet(live_api, "RULES-1")) == before


async def test_only_a_coordinator_of_the_cases_program_may_change_it(live_api: LiveApi) -> None:
    desk = live_api.token("scope-desk")
    await live_api.open_case(desk, "SCOPE-1")
    supervisor = live_api.token("scope-sup", Role.SUPERVISOR)
    status, answer = await change(live_api, supervisor, "SCOPE-1", {"language": "km"})
    assert status == 403 and answer["error"].startswith("a supervisor may not change the member's"), answer
    # A coordinator of the other program sees the case as missing, exactly as an unknown one.
    other = live_api.token("scope-aa", programs=["assist-america"])
    for token, case_id in [(other, "SCOPE-1"), (desk, "NO-SUCH-CASE"), (desk, "..%2Fetc"), (desk, "KH%00-1")]:
        status, answer = await change(live_api, token, case_id, {"language": "km"})
        assert (status, answer["error"]) == (404, "no such case"), (case_id, answer)
    status, _, _ = await live_api.call("POST", PATH.format("SCOPE-1"), None, json={"language": "km"})
    assert status == 401
    assert (await sheet(live_api, "SCOPE-1")).language == "en"


async def test_a_huge_or_non_json_body_is_refused_before_anything_is_read(live_api: LiveApi) -> None:
    desk = live_api.token("size-desk")
    await live_api.open_case(desk, "SIZE-1")
    status, answer = await change(live_api, desk, "SIZE-1", {"email": "a" * (2 << 20) + "@example.com"})
    assert (status, answer["error"]) == (413, "the body is too large"), answer
    status, answer, _ = await live_api.call(
        "POST", PATH.format("SIZE-1"), desk, data="language=km", headers={"Content-Type": "text/plain"}
    )
    assert status == 415, answer
    deep: Any = {"language": "km"}
    for _ in range(400):
        deep = {"language": deep}
    assert (await change(live_api, desk, "SIZE-1", deep))[0] == 422
    assert (await sheet(live_api, "SIZE-1")).language == "en"


async def test_a_case_that_has_ended_takes_no_change(live_api: LiveApi) -> None:
    desk, supervisor = live_api.token("end-desk"), live_api.token("end-sup", Role.SUPERVISOR)
    await live_api.open_case(desk, "END-1")
    status, body, _ = await live_api.call(
        "POST", "/api/v1/cases/END-1/cancel", supervisor, json={"reason": "member withdrew the request"}
    )
    assert status == 200, body
    # Until its run has closed (a moment after the stage), the case's own validator refuses.
    refusal = "the case is CANCELLED; it takes no more changes"
    await eventually(
        lambda: change(live_api, desk, "END-1", {"language": "km"}),
        lambda got: got == (409, {"error": refusal, "request_id": ANY}),
        hopeless=lambda got: got[0] != 409,
        what=lambda got: f"answered {got}",
    )
    before = stored(live_api)
    for body in ({"language": "km"}, {"phone": "012 999 888"}):
        status, answer = await change(live_api, desk, "END-1", body)
        assert (status, answer["error"]) == (409, refusal), answer
    assert stored(live_api) == before, "a refused change left a sheet in the store"


async def test_opening_a_case_in_a_language_the_service_cannot_speak_is_a_422(live_api: LiveApi) -> None:
    desk = live_api.token("open-desk")
    body = {"program": "prudential-kh", "details": {**MEMBER, "language": "fr"}, "case_id": "FR-1"}
    status, answer, _ = await live_api.call("POST", "/api/v1/cases", desk, json=body)
    assert (status, answer["error"]) == (422, "body.details.language: the service speaks en and km"), answer
    await live_api.open_case(desk, "KM-1", language="km-KH", sex="male")
    opened = await sheet(live_api, "KM-1")
    assert (opened.language, opened.sex) == ("km-KH", "male")


async def test_a_replaced_sheet_that_leaves_out_the_language_and_sex_keeps_the_cases(
    live_api: LiveApi,
) -> None:
    desk = live_api.token("put-desk")
    await live_api.open_case(desk, "PUT-1", language="km", sex="female")
    status, answer, _ = await live_api.call(
        "PUT", "/api/v1/cases/PUT-1/details", desk, json={**MEMBER, "email": "other@example.com"}
    )
    assert status == 200, answer
    replaced = await sheet(live_api, "PUT-1")
    assert (replaced.email, replaced.language, replaced.sex) == ("other@example.com", "km", "female")
    status, answer, _ = await live_api.call(
        "PUT", "/api/v1/cases/PUT-1/details", desk, json={**MEMBER, "language": "en", "sex": None}
    )
    assert status == 200, answer
    replaced = await sheet(live_api, "PUT-1")
    assert (replaced.language, replaced.sex) == ("en", None)


async def test_the_openapi_document_states_the_change_and_who_may_make_it(live_api: LiveApi) -> None:
    _, doc, _ = await live_api.call("GET", "/openapi.json")
    op = doc["paths"]["/api/v1/cases/{case_id}/details"]["post"]
    assert op["operationId"] == "change_details" and op["x-roles"] == ["coordinator"]
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert schema["minProperties"] == 1 and schema["additionalProperties"] is False
    assert set(schema["properties"]) == {"language", "email", "phone"}
    # Null is no value: a field is given or left out.
    assert all("anyOf" not in p and p.get("type") != "null" for p in schema["properties"].values())
    links = doc["paths"]["/api/v1/cases"]["post"]["responses"]["201"]["links"]
    assert "change_details" in links
