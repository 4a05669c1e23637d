"""Consult slots through the API and the thin CLI: proposals in both zones after the report, a
refused Sunday 03:00 ICT booking, attacker input, and two cases racing for one slot."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from calendars import consult_slots as cs
from models.users import Role
from runtime.consult_holds import others_booked, specialist_side
from tests.api.conftest import LiveApi
from tests.api.test_thin_cli import bare_env, smo
from tests.polling import eventually

ICT = ZoneInfo("Asia/Phnom_Penh")
PROGRAM = "assist-america"


async def until(live: LiveApi, token: str, case_id: str, *stages: str) -> dict[str, Any]:
    async def status() -> dict[str, Any]:
        _, body, _ = await live.call("GET", f"/api/v1/cases/{case_id}", token)
        return dict(body)

    return await eventually(
        status, lambda s: s["stage"] in stages, what=lambda s: f"{case_id} is {s['stage']}, not {stages}"
    )


async def delivered(
    live: LiveApi,
    token: str,
    case_id: str,
    specialist: str | None = None,
    program: str = PROGRAM,
    **member: Any,
) -> str:
    """A case through records, review and the report (the member's details as `member` changes
    the test member's); returns its specialist."""
    await live.open_case(token, case_id, program=program, **member)
    c = f"/api/v1/cases/{case_id}"
    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4 synthetic signed consent form", filename="consent.pdf")
    assert (await live.call("POST", f"{c}/consent", token, data=form))[0] == 200
    _, status, _ = await live.call("GET", c, token)
    for record_type in status["records"]["required"]:
        form = aiohttp.FormData()
        form.add_field("file", f"synthetic {record_type}".encode(), filename=f"{record_type}.pdf")
        code, body, _ = await live.call("POST", f"{c}/records?record_type={record_type}", token, data=form)
        assert code == 200, body
    assert (await live.call("POST", f"{c}/records/complete", token, json={}))[0] == 200
    status = await until(live, token, case_id, "UNDER_REVIEW")
    if specialist is not None and status["specialist_id"] != specialist:
        code, body, _ = await live.call("POST", f"{c}/specialist", token, json={"specialist_id": specialist})
        assert code == 200, body
        status = await until(live, token, case_id, "UNDER_REVIEW")
    sp = specialist or status["specialist_id"]
    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4 synthetic opinion", filename="opinion.pdf")
    code, body, _ = await live.call("POST", f"{c}/report?specialist_id={sp}", token, data=form)
    assert code == 200, body
    await until(live, token, case_id, "REPORT_DELIVERED")
    return str(sp)


def next_sunday_3am() -> str:
    day = datetime.now(ICT).date() + timedelta(days=4)
    while day.weekday() != 6:
        day += timedelta(days=1)
    return f"{day.isoformat()}T03:00+07:00"


async def test_slots_after_the_report_in_both_zones_and_a_sunday_3am_booking_refused_by_the_cli(
    live_api: LiveApi, tmp_path: Any
) -> None:
    token = live_api.token("chenda")
    await live_api.open_case(token, "SLOTS-0", program=PROGRAM)
    code, body, _ = await live_api.call("GET", "/api/v1/cases/SLOTS-0/consults/slots", token)
    assert code == 409 and "report is delivered" in body["error"], body

    specialist = await delivered(live_api, token, "SLOTS-1")
    env = bare_env(live_api.url, token)
    code, out, err = await smo("consult", "slots", "SLOTS-1", "--json", env=env, cwd=tmp_path)
    assert code == 0, err
    slots = json.loads(out)
    assert slots and set(slots[0]) == {"start", "end", "specialist_local", "member_local"}
    side = specialist_side(live_api.services.engine, specialist)
    assert side is not None
    for slot in slots:
        start, end = datetime.fromisoformat(slot["start"]), datetime.fromisoformat(slot["end"])
        assert start.utcoffset() == timedelta(hours=7) and end - start == timedelta(minutes=30)
        assert start.hour >= 8 and (end.hour, end.minute) <= (21, 0)
        assert side.fits(start, end), slot  # inside the roster's hours, local to the specialist
        assert slot["member_local"].endswith(" ICT") and slot["specialist_local"][-3:] in {"CST", "CDT"}
    code, text, _ = await smo("consult", "slots", "SLOTS-1", env=env, cwd=tmp_path)
    assert code == 0 and " ICT = " in text.splitlines()[0]

    sunday = next_sunday_3am()
    code, _, err = await smo("consult", "book", "SLOTS-1", "--slot", sunday, env=env, cwd=tmp_path)
    assert code == 2 and "refused: outside the specialist's hours" in err and len(err.splitlines()) == 1, err
    code, _, err = await smo(
        "consult", "book", "SLOTS-1", "--slot", "2026-12-14T09:00", env=env, cwd=tmp_path
    )
    assert code == 2 and "no UTC offset" in err

    code, out, err = await smo(
        "consult", "book", "SLOTS-1", "--slot", slots[0]["start"], env=env, cwd=tmp_path
    )
    assert code == 0 and "CONSULT" in out, err
    _, trail, _ = await live_api.call("GET", "/api/v1/cases/SLOTS-1/audit", token)
    outcomes = [(e["action"], e["outcome"]) for e in trail["events"] if e["action"] == "consult.book"]
    assert ("consult.book", "refused") in outcomes and ("consult.book", "accepted") in outcomes


async def test_attacker_slots_are_refused_with_422_and_change_nothing(live_api: LiveApi) -> None:
    token = live_api.token("chenda")
    await delivered(live_api, token, "SLOTS-2")
    path = "/api/v1/cases/SLOTS-2/consults"
    far = (datetime.now(ICT) + timedelta(days=400)).replace(hour=8, minute=0, second=0, microsecond=0)
    for slot, words in [
        ("2026-12-14T09:00", "time zone offset"),
        (far.isoformat(), cs.TOO_FAR),
        ("2020-01-01T08:00+07:00", cs.TOO_SOON),
        ("9999-12-31T23:59:59+14:00", ""),
        ("garbage", ""),
        (12, ""),
        ("2026-12-14T09:00+07:00" + "0" * 5000, ""),
    ]:
        code, body, _ = await live_api.call("POST", path, token, json={"slot": slot})
        assert code == 422 and words in json.dumps(body), (slot, body)
    code, body, _ = await live_api.call("GET", "/api/v1/cases/SLOTS-2", token)
    assert body["consults_booked"] == 0 and not body["consult_pending"]


async def test_two_cases_racing_for_one_specialist_slot_one_wins_the_other_is_told_taken(
    live_api: LiveApi,
) -> None:
    token = live_api.token("chenda")
    specialist = await delivered(live_api, token, "RACE-1")
    assert await delivered(live_api, token, "RACE-2", specialist) == specialist
    _, found, _ = await live_api.call("GET", "/api/v1/cases/RACE-1/consults/slots", token)
    slot = found["slots"][0]["start"]
    answers = await asyncio.gather(
        *(
            live_api.call("POST", f"/api/v1/cases/{c}/consults", token, json={"slot": slot})
            for c in ("RACE-1", "RACE-2")
        )
    )
    codes = sorted(a[0] for a in answers)
    assert codes == [200, 422], answers
    refused = next(a[1] for a in answers if a[0] == 422)
    assert refused["error"].endswith(f"refused: {cs.TAKEN}"), refused
    # The winner's slot is no longer proposed to the other case; completing releases it.
    winner = next(c for c, a in zip(("RACE-1", "RACE-2"), answers, strict=True) if a[0] == 200)
    loser = "RACE-2" if winner == "RACE-1" else "RACE-1"
    _, again, _ = await live_api.call("GET", f"/api/v1/cases/{loser}/consults/slots", token)
    assert slot not in {s["start"] for s in again["slots"]}
    code, body, _ = await live_api.call(
        "POST", f"/api/v1/cases/{winner}/consults", token, json={"slot": slot}
    )
    assert code == 409 and "already booked" in body["error"], body
    assert (await live_api.call("POST", f"/api/v1/cases/{winner}/consults/complete", token, json={}))[
        0
    ] == 200
    _, again, _ = await live_api.call("GET", f"/api/v1/cases/{loser}/consults/slots", token)
    assert slot in {s["start"] for s in again["slots"]}


async def test_cancelling_a_case_lets_go_of_its_held_slot(live_api: LiveApi) -> None:
    token, supervisor = live_api.token("chenda"), live_api.token("sup", Role.SUPERVISOR)
    specialist = await delivered(live_api, token, "HELD-1")
    _, found, _ = await live_api.call("GET", "/api/v1/cases/HELD-1/consults/slots", token)
    slot = found["slots"][0]["start"]
    code, body, _ = await live_api.call("POST", "/api/v1/cases/HELD-1/consults", token, json={"slot": slot})
    assert code == 200, body
    engine = live_api.services.engine
    assert datetime.fromisoformat(slot) in others_booked(engine, specialist, "another case")
    code, body, _ = await live_api.call(
        "POST", "/api/v1/cases/HELD-1/cancel", supervisor, json={"reason": "member withdrew the request"}
    )
    assert code in (200, 202), body
    assert others_booked(engine, specialist, "another case") == []
