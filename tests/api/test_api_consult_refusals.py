"""What an attacker (or a slip) sends to the consult's staff endpoints is refused, and nothing
changes: no consult moves, no slot is held or let go, the member's hours stay. The document
states each limit, so what it allows is taken; the member's hours set by the desk are kept."""

from __future__ import annotations

from datetime import date
from typing import Any

from models.users import Role
from runtime.consult_holds import member_hours, others_booked
from runtime.portal_links import PortalLinks
from tests.api.conftest import LiveApi
from tests.api.test_api_consult_moves import CONSULT_FIELDS, proposals
from tests.api.test_api_consult_slots import delivered
from tests.api.test_api_hostile_input import component

CASE = "HOSTILE-CONSULT-1"
C = f"/api/v1/cases/{CASE}/consults"
DEFAULT_HOURS = {"case_id": CASE, "zone": "Asia/Phnom_Penh", "hours": "08:00-21:00"}
# The consult's calls on the case, each with a body it would take.
CALLS: list[tuple[str, str, Any]] = [
    ("POST", f"{C}/1/reschedule", {"slot": "2027-01-05T09:00+07:00"}),
    ("POST", f"{C}/1/cancel", {}),
    ("POST", f"{C}/complete", {"outcome": "specialist_absent"}),
    ("GET", f"{C}/hours", None),
    ("POST", f"{C}/hours", {"zone": "Asia/Bangkok", "hours": "09:00-18:00"}),
]
BAD_NUMBERS = ["0", "-1", "abc", "1.5", "1e3", "99999999999999999999", "1000", "%201", "1;2", "²"]
BAD_BODIES: list[tuple[str, Any, str]] = [
    # (path under the consults, body, what the refusal names)
    ("1/reschedule", {"slot": "2026-12-14T09:00"}, "body.slot"),  # no UTC offset
    ("1/reschedule", {"slot": "garbage"}, "body.slot"),
    ("1/reschedule", {"slot": 12}, "refused"),  # seconds since 1970, in UTC: long past
    ("1/reschedule", {}, "body.slot"),
    ("1/reschedule", {"slot": "2027-01-05T09:00+07:00", "by": "mallory"}, "takes no such field"),
    ("1/reschedule", {"slot": "2027-01-05T09:00+07:00", "number": 2}, "takes no such field"),
    ("1/cancel", {"reason": "because"}, "takes no such field"),
    ("complete", {"outcome": "no_show"}, "body.outcome"),
    ("complete", {"outcome": "DONE"}, "body.outcome"),
    ("complete", {"outcome": None}, "body.outcome"),
    ("complete", {"outcome": "done", "by": "mallory"}, "takes no such field"),
    ("hours", {"zone": "Mars/Base", "hours": "08:00-21:00"}, "not a time zone"),
    ("hours", {"zone": "../../../etc/passwd", "hours": "08:00-21:00"}, "not a time zone"),
    ("hours", {"zone": "localtime", "hours": "08:00-21:00"}, "not a time zone"),
    ("hours", {"zone": "asia/phnom_penh", "hours": "08:00-21:00"}, "not a time zone"),
    ("hours", {"zone": "Asia/Phnom_Penh", "hours": "25:00-26:00"}, "body.hours"),
    ("hours", {"zone": "Asia/Phnom_Penh", "hours": "21:00-08:00"}, "the end after the start"),
    ("hours", {"zone": "Asia/Phnom_Penh", "hours": "08:15-21:00"}, "half hour"),
    ("hours", {"zone": "Asia/Phnom_Penh", "hours": "24:00-24:30"}, "body.hours"),
    ("hours", {"zone": "Asia/Phnom_Penh", "hours": " 08:00-21:00"}, "body.hours"),
    ("hours", {"zone": "Asia/Phnom_Penh", "hours": "08:00-21:00", "case_id": "OTHER-1"}, "no such field"),
    ("hours", {"zone": "Asia/Phnom_Penh"}, "body.hours"),
    ("hours", {"zone": "A" * 5000, "hours": "08:00-21:00"}, "body.zone"),
]


async def booked_case(live: LiveApi, token: str) -> tuple[str, dict[str, Any]]:
    """The case with a consult booked; its specialist and what must not change."""
    specialist = await delivered(live, token, CASE)
    slot = (await proposals(live, token, CASE))[0]
    code, body, _ = await live.call("POST", C, token, json={"slot": slot})
    assert code == 200, body
    return specialist, await unchanged(live, token, specialist)


CONTINUED = "history continued in a new run"


async def unchanged(live: LiveApi, token: str, specialist: str) -> dict[str, Any]:
    _, status, _ = await live.call("GET", f"/api/v1/cases/{CASE}", token)
    engine = live.services.engine
    return {
        "consult": {k: status[k] for k in CONSULT_FIELDS},
        # What the case did (a fresh run of the consult phase is the case's own housekeeping).
        "timeline": [t["event"] for t in status["timeline"] if t["event"] != CONTINUED],
        "held": sorted(others_booked(engine, specialist, "no such case")),
        "hours": member_hours(engine, CASE),
    }


async def test_bad_numbers_bodies_zones_and_hours_are_422_and_change_nothing(live_api: LiveApi) -> None:
    token = live_api.token("chenda")
    specialist, before = await booked_case(live_api, token)

    for number in BAD_NUMBERS:
        for action, body in (("reschedule", {"slot": "2027-01-05T09:00+07:00"}), ("cancel", {})):
            code, answer, _ = await live_api.call("POST", f"{C}/{number}/{action}", token, json=body)
            assert code == 422 and answer["error"].startswith("path.number: "), (number, answer)
    for path, body, words in BAD_BODIES:
        code, answer, _ = await live_api.call("POST", f"{C}/{path}", token, json=body)
        assert code == 422 and words in answer["error"], (path, body, answer)
        assert "Mars" not in answer["error"] and "passwd" not in answer["error"], answer  # never echoed
    # A number past the booked one is the case's conflict, not a form error.
    code, answer, _ = await live_api.call("POST", f"{C}/999/cancel", token, json={})
    assert code == 409, answer
    # Nobody has missed a consult that has not started: the case refuses, the slot stays held.
    code, answer, _ = await live_api.call("POST", f"{C}/complete", token, json={"outcome": "member_absent"})
    assert code == 409 and "has not started yet" in answer["error"], answer
    assert await unchanged(live_api, token, specialist) == before

    code, answer, _ = await live_api.call("GET", f"{C}/hours", token)
    assert (code, answer) == (200, DEFAULT_HOURS)
    hours = {"zone": "America/Chicago", "hours": "18:00-24:00"}
    code, answer, _ = await live_api.call("POST", f"{C}/hours", token, json=hours)
    assert (code, answer) == (200, {"case_id": CASE, **hours}), answer
    assert (await live_api.call("GET", f"{C}/hours", token))[1] == {"case_id": CASE, **hours}
    _, trail, _ = await live_api.call("GET", f"/api/v1/cases/{CASE}/audit", token)
    assert [e["detail"] for e in trail["events"] if e["action"] == "consult.hours"] == [
        "America/Chicago 18:00-24:00"
    ]


async def test_a_member_or_specialist_token_a_supervisor_or_another_program_reach_none_of_them(
    live_api: LiveApi,
) -> None:
    token = live_api.token("chenda")
    specialist, before = await booked_case(live_api, token)
    services = live_api.services
    portal = PortalLinks.from_settings(services.engine, services.settings)
    member_token, _ = portal.mint(CASE, date(1980, 1, 1))
    assignment = portal.assignment_url(CASE, 1, specialist).rsplit("/", 1)[-1]
    strangers: list[tuple[str, int]] = [
        (member_token, 401),
        (assignment, 401),
        ("smo_" + "x" * 43, 401),
        (live_api.token("sup", Role.SUPERVISOR), 403),
        (live_api.token("other-desk", programs=["prudential-kh"]), 404),  # out of scope reads as missing
    ]
    for method, path, body in CALLS:
        for stranger, expected in strangers:
            if method == "GET" and expected == 403:
                expected = 200  # a supervisor reads what the desk set; only the desk changes it
            code, answer, _ = await live_api.call(method, path, stranger, json=body)
            assert code == expected, (method, path, expected, answer)
        code, answer, _ = await live_api.call(method, path, None, json=body)
        assert code == 401, answer
    assert await unchanged(live_api, token, specialist) == before


# A body of the member's hours and whether the document and the server take it.
HOURS_AGREEMENT: list[tuple[dict[str, str], bool]] = [
    ({"zone": "Asia/Phnom_Penh", "hours": "08:00-21:00"}, True),
    ({"zone": "America/Chicago", "hours": "00:00-24:00"}, True),
    ({"zone": "UTC", "hours": "23:30-24:00"}, True),
    ({"zone": "Asia/Phnom_Penh", "hours": "12:00-12:30"}, True),
    ({"zone": "Asia/Phnom_Penh", "hours": "12:30-12:30"}, False),
    ({"zone": "Asia/Phnom_Penh", "hours": "12:30-12:00"}, False),
    ({"zone": "Asia/Phnom_Penh", "hours": "09:00-24:30"}, False),
    ({"zone": "Asia/Phnom_Penh", "hours": "9:00-21:00"}, False),
    ({"zone": "Mars/Base", "hours": "08:00-21:00"}, False),
    ({"zone": "localtime", "hours": "08:00-21:00"}, False),
]


async def test_the_document_states_the_consult_number_hours_and_zones_the_server_takes(
    live_api: LiveApi,
) -> None:
    token = live_api.token("chenda")
    await live_api.open_case(token, CASE)  # the member's hours are theirs from the start
    _, doc, _ = await live_api.call("GET", "/openapi.json")
    schema = component(doc, "ConsultHoursBody")
    for body, valid in HOURS_AGREEMENT:
        assert schema.is_valid(body) is valid, body
        code, answer, _ = await live_api.call("POST", f"{C}/hours", token, json=body)
        assert code == (200 if valid else 422), (body, answer)
    for action in ("reschedule", "cancel"):
        params = doc["paths"][f"/api/v1/cases/{{case_id}}/consults/{{number}}/{action}"]["post"]["parameters"]
        number = {p["name"]: p for p in params}["number"]
        assert (number["in"], number["required"]) == ("path", True)
        assert (number["schema"]["minimum"], number["schema"]["maximum"]) == (1, 999)
