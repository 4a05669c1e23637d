"""Hostile input to the API and the portal: bodies nested to exhaust a parser, bodies of another
type, bytes that are not text, values made to be read back, calls to a case that has ended.

Each gets a 4xx that names the field and the rule, never the value the caller sent, and none a
5xx. Found by hand and by the fuzzer (issue 30); each test failed on the code before its fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import aiohttp
import jsonschema_rs
import pytest

from models.users import Role
from tests.api.conftest import MEMBER, LiveApi
from tests.api.test_api_edges import multipart, stored
from tests.api.test_thin_cli import bare_env, smo
from tests.polling import eventually
from web.api.routes import ROUTES
from web.json_body import MAX_JSON_DEPTH

DEEP = b"[" * 400 + b"]" * 400
JSON = {"Content-Type": "application/json"}


def open_body(**details: Any) -> dict[str, Any]:
    return {"program": "prudential-kh", "details": {**MEMBER, **details}}


async def upload_record(live_api: LiveApi, token: str, case_id: str, content: bytes) -> tuple[int, Any]:
    data, headers = multipart((b"scan.pdf", content))
    path = f"/api/v1/cases/{case_id}/records?record_type=biopsy_report"
    status, body, _ = await live_api.call("POST", path, token, data=data, headers=headers)
    return status, body


async def test_a_json_body_nested_400_deep_is_a_422_on_every_json_endpoint_and_changes_nothing(
    live_api: LiveApi,
) -> None:
    tokens = {
        Role.COORDINATOR: live_api.token("deep-coord"),
        Role.SUPERVISOR: live_api.token("deep-sup", Role.SUPERVISOR),
    }
    await live_api.open_case(tokens[Role.COORDINATOR], "DEEP-1")
    _, before, _ = await live_api.call("GET", "/api/v1/cases/DEEP-1", tokens[Role.COORDINATOR])
    json_routes = [r for r in ROUTES if r.body is not None]
    assert len(json_routes) >= 13
    in_a_field = b'{"program": ' + DEEP + b', "details": {"patient_name": ' + b"{}" + b"}}"
    objects = b'{"a": ' * 400 + b"1" + b"}" * 400
    for route in json_routes:
        role = Role.COORDINATOR if Role.COORDINATOR in route.roles else Role.SUPERVISOR
        path = route.path.replace("{case_id}", "DEEP-1").replace("{number}", "1")
        for body in (DEEP, in_a_field, objects):
            status, answer, _ = await live_api.call(route.method, path, tokens[role], data=body, headers=JSON)
            assert status == 422, (route.path, status, answer)
            assert answer["error"] == f"the body nests arrays and objects more than {MAX_JSON_DEPTH} deep"
    _, after, _ = await live_api.call("GET", "/api/v1/cases/DEEP-1", tokens[Role.COORDINATOR])
    assert after["timeline"] == before["timeline"], "a refused body changed the case"
    # Brackets inside strings (quotes escaped or not) are text, not nesting.
    text = {**open_body(diagnosis_text='"[[[{{ \\\\" ' + "[" * 300), "case_id": "DEEP-2"}
    status, answer, _ = await live_api.call("POST", "/api/v1/cases", tokens[Role.COORDINATOR], json=text)
    assert status == 201, answer


async def test_a_body_that_is_not_application_json_is_a_415_and_opens_nothing(live_api: LiveApi) -> None:
    token = live_api.token("types")
    text = json.dumps({**open_body(), "case_id": "TYPE-1"})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml", None):
        headers = {"Content-Type": content_type} if content_type else {}
        status, body, _ = await live_api.call(
            "POST", "/api/v1/cases", token, data=text.encode(), headers=headers
        )
        assert (status, body["error"]) == (415, "send the body as application/json"), (content_type, body)
    assert not stored(live_api), "a refused open stored the member's details"
    status, _, _ = await live_api.call("GET", "/api/v1/cases/TYPE-1", token)
    assert status == 404


async def test_every_405_says_in_allow_which_methods_the_path_takes(live_api: LiveApi) -> None:
    token = live_api.token("methods")
    await live_api.open_case(token, "ALLOW-1")
    for method, path, allowed in [
        ("DELETE", "/api/v1/cases", {"GET", "POST"}),
        ("PATCH", "/api/v1/cases/ALLOW-1", {"GET"}),
        ("GET", "/api/v1/cases/ALLOW-1/close", {"POST"}),
        ("DELETE", "/api/v1/cases/ALLOW-1/details", {"PUT", "POST"}),
        ("GET", "/portal/signout", {"POST"}),
        ("DELETE", "/portal/staff/signin", {"GET", "POST"}),
    ]:
        status, _, resp = await live_api.call(method, path, token)
        assert status == 405, (method, path)
        assert allowed <= set(resp.headers.get("Allow", "").split(",")), (method, path, resp.headers)


@pytest.mark.parametrize("due", ["²d", "١d", "2 d", "12fortnights", "99999999999d", ""])
async def test_a_due_within_that_is_not_a_plain_duration_is_a_422_that_does_not_repeat_it(
    live_api: LiveApi, due: str
) -> None:
    # '²'.isdigit() is true and int('²') refuses it: that was a 500. '١' (Arabic-Indic one) was taken.
    token = live_api.token("durations")
    status, body, _ = await live_api.call("GET", "/api/v1/cases", token, params={"due_within": due})
    assert status == 422, body
    assert body["error"].startswith("query.due_within: not a duration")
    assert due.strip() == "" or due.strip() not in body["error"]
    status, _, _ = await live_api.call("GET", "/api/v1/cases", token, params={"due_within": "9999w"})
    assert status == 200


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        ("/portal/request/assist-america", b"a=1", "application/x-www-form-urlencoded"),
        ("/portal/signout", b"\xff=1", "application/x-www-form-urlencoded"),
        ("/portal/staff/signin", b"\xff=1", "application/x-www-form-urlencoded"),
        ("/portal/staff/signin", b"a=1", "application/x-www-form-urlencoded; charset=no-such-charset"),
        ("/portal/staff/signin", b"a=1", "multipart/form-data; boundary=x"),
        ("/portal/signout", b"a=1", "multipart/form-data"),
    ],
    ids=["intake-a=1", "signout-ff", "staff-ff", "staff-charset", "staff-multipart", "signout-no-boundary"],
)
async def test_a_form_body_the_portal_cannot_read_is_a_4xx_page_never_a_500(
    live_api: LiveApi, path: str, body: bytes, content_type: str
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(live_api.url + path, data=body, headers={"Content-Type": content_type}) as resp,
    ):
        page = await resp.text()
    assert 400 <= resp.status < 500, (resp.status, page[:300])
    assert "Traceback" not in page and "\\xff" not in page


@pytest.mark.parametrize(
    "path",
    [
        "/portal/assignments/SMO-261206-ABC123/%C2%B2/1/" + "0" * 64,
        "/portal/assignments/SMO-261206-ABC123/1/%D9%A1/" + "0" * 64,
        "/portal/assignments/SMO-261206-ABC123/1/1/" + "0" * 64 + "/records/%C2%B2",
    ],
    ids=["superscript-number", "arabic-indic-expiry", "document"],
)
async def test_a_link_path_with_digits_int_refuses_is_a_404_page_never_a_500(
    live_api: LiveApi, path: str
) -> None:
    # '²'.isdigit() is true and int('²') refuses it: without signing in, that was a 500.
    async with aiohttp.ClientSession() as http, http.get(live_api.url + path) as resp:
        page = await resp.text()
    assert resp.status == 404, (resp.status, page[:300])
    assert "²" not in page and "١" not in page


SENT = [
    # (what, method, path, request keywords, the values that must not come back)
    ("sql in a program", "GET", "/api/v1/cases", {"params": {"program": "' OR ''='"}}, ["OR ''"]),
    ("unknown program", "GET", "/api/v1/cases", {"params": {"program": "nope-program"}}, ["nope-program"]),
    ("duration", "GET", "/api/v1/cases", {"params": {"due_within": "12fortnights"}}, ["fortnight"]),
    ("newline id", "GET", "/api/v1/cases/SECRET-CASE-7%0A", {}, ["SECRET-CASE-7"]),
    (
        "id in body",
        "POST",
        "/api/v1/cases",
        {"json": {**open_body(), "case_id": "SECRET-CASE-7\n"}},
        ["SECRET"],
    ),
    ("icd10", "POST", "/api/v1/cases", {"json": open_body(icd10="n")}, ["valueot", "the value"]),
    ("email", "POST", "/api/v1/cases", {"json": open_body(email="sokha@@evil.example")}, ["@@", "evil"]),
    ("unknown key", "POST", "/api/v1/cases", {"json": {**open_body(), "ssn_4471": "1"}}, ["ssn_4471"]),
    ("nested key", "POST", "/api/v1/cases", {"json": open_body(passport_no_9932="X")}, ["passport"]),
    (
        "sql program",
        "POST",
        "/api/v1/cases",
        {"json": {**open_body(), "program": "' OR ''='"}},
        ["OR ''"],
    ),
    (
        "exclusion",
        "POST",
        "/api/v1/cases",
        {"json": {**open_body(), "facts": {"exclusions": ["drop_table_members"]}}},
        ["drop_table"],
    ),
    ("policy", "POST", "/api/v1/cases", {"json": open_body(policy_number="P" * 41)}, ["PPPP"]),
    ("language", "POST", "/api/v1/cases", {"json": open_body(language="k" * 900_000)}, ["kkkk"]),
]


async def test_no_error_repeats_a_value_the_caller_sent_and_each_names_the_field(live_api: LiveApi) -> None:
    token = live_api.token("echoes")
    for what, method, path, kw, secrets in SENT:
        status, body, resp = await live_api.call(method, path, token, **kw)
        assert status in (404, 422), (what, status, body)
        text = json.dumps(body)
        assert len(text) < 600, (what, len(text))
        for secret in secrets:
            assert secret not in text and secret not in str(resp.headers), (what, body)
    # The message keeps its words: the masking used to turn "n" into "the value" everywhere.
    status, body, _ = await live_api.call("POST", "/api/v1/cases", token, json=open_body(icd10="n"))
    assert body["error"] == "body.details.icd10: must be an ICD-10 code (e.g. C50.912)"
    status, body, _ = await live_api.call("POST", "/api/v1/cases", token, json={**open_body(), "ssn_4471": 1})
    assert body["error"].startswith("body: takes no such field"), body
    status, body, _ = await live_api.call(
        "POST", "/api/v1/cases", token, json=open_body(policy_number="P" * 41)
    )
    assert body["error"] == "body.details.policy_number: String should have at most 40 characters"
    assert not stored(live_api), "a refused open stored the member's details"


async def test_ten_thousand_exclusions_are_a_short_422_that_lists_none(live_api: LiveApi) -> None:
    # It was a 129 KB answer that repeated every one of them.
    token = live_api.token("many")
    exclusions = [f"made_up_exclusion_{n}" for n in range(10_000)]
    status, body, _ = await live_api.call(
        "POST", "/api/v1/cases", token, json={**open_body(), "facts": {"exclusions": exclusions}}
    )
    assert status == 422 and len(json.dumps(body)) < 300, body
    assert body["error"].startswith("body.facts.exclusions:") and "made_up" not in body["error"]


async def test_a_cancelled_case_answers_cancelled_and_refuses_changes_with_a_409_not_a_404(
    live_api: LiveApi,
) -> None:
    coordinator, supervisor = live_api.token("ended-coord"), live_api.token("ended-sup", Role.SUPERVISOR)
    await live_api.open_case(coordinator, "ENDED-1")
    status, body, _ = await live_api.call(
        "POST", "/api/v1/cases/ENDED-1/cancel", supervisor, json={"reason": "member withdrew the request"}
    )
    assert status == 200 and body["stage"] == "CANCELLED", body  # the stage after the cancel
    status, case, _ = await live_api.call("GET", "/api/v1/cases/ENDED-1", coordinator)
    assert (status, case["stage"]) == (200, "CANCELLED")
    refusal = "the case is CANCELLED; it takes no more changes"
    # Until its run has closed (a moment after the stage), the case's own validator refuses.
    await eventually(
        lambda: live_api.call("POST", "/api/v1/cases/ENDED-1/close", coordinator, json={}),
        lambda answer: answer[0] == 409 and answer[1]["error"] == refusal,
        hopeless=lambda answer: answer[0] != 409,
        what=lambda answer: f"close answered {answer[0]}: {answer[1]}",
    )
    before = stored(live_api)
    for method, path, body in [
        ("PUT", "/api/v1/cases/ENDED-1/details", MEMBER),
        ("POST", "/api/v1/cases/ENDED-1/specialist", {"specialist_id": "SP-ONC-001"}),
    ]:
        status, answer, _ = await live_api.call(method, path, coordinator, json=body)
        assert (status, answer["error"]) == (409, refusal), (path, answer)
    assert await upload_record(live_api, coordinator, "ENDED-1", b"a record too late") == (
        409,
        {"error": refusal, "request_id": ANY},
    )
    assert stored(live_api) == before, "a refused change stored something"


async def test_a_zero_byte_record_is_refused_and_nothing_is_stored(live_api: LiveApi) -> None:
    token = live_api.token("empty")
    await live_api.open_case(token, "EMPTY-1")
    before = stored(live_api)
    status, body = await upload_record(live_api, token, "EMPTY-1", b"")
    assert (status, body["error"]) == (422, "a file part is empty; send the file's content"), body
    assert stored(live_api) == before


async def test_the_cli_says_an_unknown_program_is_a_mistake_instead_of_listing_no_case(
    live_api: LiveApi, tmp_path: Path
) -> None:
    env = bare_env(live_api.url, live_api.token("lister"))
    code, out, err = await smo("case", "list", "--program", "nope", env=env, cwd=tmp_path)
    assert code == 2 and not out, (code, out)
    assert (
        err.startswith("error: query.program: not a program of this service") and len(err.splitlines()) == 1
    )
    code, out, _ = await smo("case", "list", "--program", "prudential-kh", env=env, cwd=tmp_path)
    assert code == 0 and "0 case(s)" in out


# A request and whether the schema and the server take it: the two must agree.
AGREEMENT = [
    ("MemberDetails", {**MEMBER, "icd10": ""}, False),
    ("MemberDetails", {**MEMBER, "icd10": "C50.912"}, True),
    ("MemberDetails", {**MEMBER, "policy_number": "P" * 41}, False),
    ("MemberDetails", {**MEMBER, "policy_number": "P" * 40}, True),
    ("MemberDetails", {**MEMBER, "patient_name": "Sokha\x00Chan"}, False),
    ("MemberDetails", {**MEMBER, "language": "k" * 900}, False),
    ("MemberDetails", {**MEMBER, "language": "km"}, True),
    ("MemberDetails", {**MEMBER, "language": "km-KH"}, True),
    ("MemberDetails", {**MEMBER, "language": "Khmer"}, True),
    ("MemberDetails", {**MEMBER, "language": "EN-us"}, True),
    ("MemberDetails", {**MEMBER, "language": "fr"}, False),  # a language the service cannot speak
    ("MemberDetails", {**MEMBER, "language": "kmx"}, False),
    ("MemberDetails", {**MEMBER, "sex": "female"}, True),
    ("MemberDetails", {**MEMBER, "sex": "other"}, False),
    ("MemberDetails", {**MEMBER, "email": "member@example.test"}, False),
    ("DeclineBody", {"specialist_id": "SP-ONC-001", "reason": "  a "}, False),
    ("DeclineBody", {"specialist_id": "SP-ONC-001", "reason": "a b"}, True),
    ("DeclineBody", {"specialist_id": "SP-ONC-001", "reason": "conflict\x00"}, False),
    ("DetailsChange", {}, False),
    ("DetailsChange", {"language": None}, False),
    ("DetailsChange", {"language": "fr"}, False),
    ("DetailsChange", {"language": "km-KH"}, False),  # the change takes the code itself
    ("DetailsChange", {"language": ["km"]}, False),  # unhashable: once a 500
    ("DetailsChange", {"language": {}}, False),
    ("DetailsChange", {"phone": "012 345 678 ext 5"}, False),
    ("DetailsChange", {"phone": "12"}, False),
    ("DetailsChange", {"role": "supervisor"}, False),
    ("DetailsChange", {"language": "km"}, True),
    ("DetailsChange", {"phone": "+855 12 345 678"}, True),
    ("DetailsChange", {"phone": ""}, True),
    ("DetailsChange", {"email": "new@example.com", "language": "en"}, True),
]
# Where each model is sent to AGREE-1.
AGREEMENT_CALLS = {
    "MemberDetails": ("PUT", "/details"),
    # No specialist to decline: a valid body is the case's refusal (409), not a 422.
    "DeclineBody": ("POST", "/specialist/decline"),
    "DetailsChange": ("POST", "/details"),
}


def component(doc: dict[str, Any], name: str) -> jsonschema_rs.Validator:
    """The validator of a request model's schema as the document states it."""
    schemas = doc["components"]["schemas"]
    key = name if name in schemas else f"{name}-Input"
    root = {"$ref": f"#/components/schemas/{key}", "components": doc["components"]}
    return jsonschema_rs.validator_for(root, validate_formats=True)


async def test_the_openapi_document_states_every_limit_the_server_enforces(live_api: LiveApi) -> None:
    status, doc, _ = await live_api.call("GET", "/openapi.json")
    assert status == 200
    coordinator = live_api.token("agree")
    await live_api.open_case(coordinator, "AGREE-1")
    for name, value, valid in AGREEMENT:
        assert component(doc, name).is_valid(value) is valid, (name, value)
        method, path = AGREEMENT_CALLS[name]
        status, body, _ = await live_api.call(method, f"/api/v1/cases/AGREE-1{path}", coordinator, json=value)
        assert (status not in (400, 415, 422)) is valid, (name, value, status, body)
    params = {p["name"]: p["schema"] for p in doc["paths"]["/api/v1/cases"]["get"]["parameters"]}
    assert params["due_within"]["anyOf"][0]["pattern"] == "^[0-9]{1,4}[mhdw]$"
    assert params["program"]["anyOf"][0]["enum"] == ["assist-america", "prudential-kh"]
    files = doc["paths"]["/api/v1/cases/{case_id}/records"]["post"]["requestBody"]["content"]
    assert files["multipart/form-data"]["schema"]["properties"]["file"]["items"]["minLength"] == 1
    links = doc["paths"]["/api/v1/cases"]["post"]["responses"]["201"]["links"]
    assert links["case_status"]["parameters"] == {"case_id": "$response.body#/case_id"}
