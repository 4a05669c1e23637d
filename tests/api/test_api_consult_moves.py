"""Moving, cancelling and settling a booked consult through the API and the thin CLI: the held
slot follows the consult, a cancel leaves the next booking free, the notice holds for both, the
consult is named by its number, and an absence is only said once the consult has started."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from calendars import consult_slots as cs
from models.consult import BookConsult
from runtime.consult_holds import others_booked
from service.cases import handle_for
from starter.cli_common import at_desk
from tests.api.conftest import LiveApi
from tests.api.test_api_consult_slots import delivered, next_sunday_3am
from tests.api.test_thin_cli import bare_env, smo
from workflows.smo_case import SmoCaseWorkflow

# What a refused call must leave as it was.
CONSULT_FIELDS = (
    "stage",
    "consults_booked",
    "consults_completed",
    "consult_pending",
    "consult_at",
    "consult_number",
    "consult_sequence",
    "consult_rebook_free",
)


async def consult_of(live: LiveApi, token: str, case_id: str) -> dict[str, Any]:
    code, body, _ = await live.call("GET", f"/api/v1/cases/{case_id}", token)
    assert code == 200, body
    return {k: body[k] for k in CONSULT_FIELDS}


def held(live: LiveApi, specialist: str) -> set[datetime]:
    """Every slot the specialist has held, whichever case holds it."""
    return set(others_booked(live.services.engine, specialist, "no such case"))


def at(slot: str) -> datetime:
    return datetime.fromisoformat(slot).astimezone(UTC)


async def proposals(live: LiveApi, token: str, case_id: str) -> list[str]:
    # Not the first two: the earliest slot may fall inside the notice while the test runs.
    _, found, _ = await live.call("GET", f"/api/v1/cases/{case_id}/consults/slots", token)
    return [s["start"] for s in found["slots"][2:]]


async def test_a_reschedule_moves_the_hold_and_a_cancel_leaves_a_free_rebooking_of_the_freed_slot(
    live_api: LiveApi,
) -> None:
    token, program = live_api.token("chenda"), "prudential-kh"  # one free consult, then billed
    specialist = await delivered(live_api, token, "MOVE-1", program=program)
    # Another member (one opinion per member and condition in this program).
    other = {"policy_number": "KH-DEMO-0003", "patient_name": "Other Member", "date_of_birth": "1975-05-05"}
    await delivered(live_api, token, "MOVE-2", specialist, program=program, **other)
    first, second, third = (await proposals(live_api, token, "MOVE-1"))[:3]
    one, two = "/api/v1/cases/MOVE-1/consults", "/api/v1/cases/MOVE-2/consults"

    code, body, _ = await live_api.call("POST", one, token, json={"slot": first})
    assert (code, body["detail"]) == (200, "free"), body
    code, body, _ = await live_api.call("POST", two, token, json={"slot": second})
    assert (code, body["detail"]) == (200, "free"), body
    assert held(live_api, specialist) == {at(first), at(second)}

    # Into the slot the other case holds: "taken", and nothing moves.
    before = await consult_of(live_api, token, "MOVE-1")
    code, body, _ = await live_api.call("POST", f"{one}/1/reschedule", token, json={"slot": second})
    assert code == 422 and body["error"].endswith(f"refused: {cs.TAKEN}"), body
    assert await consult_of(live_api, token, "MOVE-1") == before
    assert held(live_api, specialist) == {at(first), at(second)}

    # A consult the case has not booked under that number is a conflict.
    for number in (2, 999):
        code, body, _ = await live_api.call("POST", f"{one}/{number}/reschedule", token, json={"slot": third})
        assert code == 409 and "is not the booked one (#1)" in body["error"], body
        code, body, _ = await live_api.call("POST", f"{one}/{number}/cancel", token, json={})
        assert code == 409 and "is not the booked one (#1)" in body["error"], body
    assert await consult_of(live_api, token, "MOVE-1") == before

    code, body, _ = await live_api.call("POST", f"{one}/1/reschedule", token, json={"slot": third})
    assert (code, body["detail"]) == (200, "sequence 1"), body
    moved = await consult_of(live_api, token, "MOVE-1")
    assert (moved["consult_number"], moved["consult_sequence"]) == (1, 1)
    assert at(moved["consult_at"]) == at(third)
    assert held(live_api, specialist) == {at(second), at(third)}, "the old slot is still held"

    code, body, _ = await live_api.call("POST", f"{two}/1/cancel", token)  # no body at all
    assert (code, body["detail"]) == (200, "the next booking is free"), body
    cancelled = await consult_of(live_api, token, "MOVE-2")
    assert not cancelled["consult_pending"] and cancelled["consult_rebook_free"] == 1
    assert held(live_api, specialist) == {at(third)}

    # The slot MOVE-1 left is MOVE-2's to book, free: the program's one free consult was used.
    code, body, _ = await live_api.call("POST", two, token, json={"slot": first})
    assert (code, body["detail"]) == (200, "free"), body
    rebooked = await consult_of(live_api, token, "MOVE-2")
    assert (rebooked["consult_number"], rebooked["consult_rebook_free"]) == (2, 0)
    assert held(live_api, specialist) == {at(first), at(third)}

    _, trail, _ = await live_api.call("GET", "/api/v1/cases/MOVE-1/audit", token)
    moves = [e["outcome"] for e in trail["events"] if e["action"] == "consult.reschedule"]
    assert "refused" in moves and "accepted" in moves, moves


async def test_inside_the_notice_neither_a_move_nor_a_cancel_and_no_absence_before_the_start(
    live_api: LiveApi,
) -> None:
    token = live_api.token("chenda")
    await delivered(live_api, token, "NOTICE-1")
    later = (await proposals(live_api, token, "NOTICE-1"))[0]
    # A consult two hours away, as an older booking or a notice since shortened leaves one: the
    # case takes it (its validator knows no roster), the service's rule would not.
    soon = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    handle = handle_for(live_api.env.client, "NOTICE-1")
    await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=soon, by="chenda"))
    before = await consult_of(live_api, token, "NOTICE-1")
    path = "/api/v1/cases/NOTICE-1/consults"

    code, body, _ = await live_api.call("POST", f"{path}/1/reschedule", token, json={"slot": later})
    assert code == 422 and body["error"].endswith(f"refused: {cs.TOO_SOON}"), body
    code, body, _ = await live_api.call("POST", f"{path}/1/cancel", token, json={})
    assert code == 422 and body["error"].endswith(f"refused: {cs.TOO_SOON}"), body
    for outcome in ("specialist_absent", "member_absent"):
        code, body, _ = await live_api.call("POST", f"{path}/complete", token, json={"outcome": outcome})
        assert code == 409 and "has not started yet" in body["error"], body
    assert await consult_of(live_api, token, "NOTICE-1") == before

    code, body, _ = await live_api.call("POST", f"{path}/complete", token)  # no body: it was held
    assert code == 200, body
    after = await consult_of(live_api, token, "NOTICE-1")
    assert not after["consult_pending"] and after["consults_completed"] == 1


async def test_the_cli_moves_cancels_and_shows_the_consult_and_a_refused_slot_exits_2(
    live_api: LiveApi, tmp_path: Path
) -> None:
    token = live_api.token("chenda")
    await delivered(live_api, token, "CLI-MOVE-1")
    first, second = (await proposals(live_api, token, "CLI-MOVE-1"))[:2]
    env = bare_env(live_api.url, token)

    async def run(*argv: str, code: int = 0) -> str:
        got, out, err = await smo(*argv, env=env, cwd=tmp_path)
        assert got == code, (argv, out, err)
        return out if code == 0 else err

    path = "/api/v1/cases/CLI-MOVE-1/consults"
    code, body, _ = await live_api.call("POST", path, token, json={"slot": first})
    assert code == 200, body
    assert f"consult #1 booked: {at_desk(first)}\n" in await run("case", "status", "CLI-MOVE-1")

    refused = await run("consult", "reschedule", "CLI-MOVE-1", "1", "--slot", next_sunday_3am(), code=2)
    assert "refused: outside the specialist's hours" in refused and len(refused.splitlines()) == 1
    naive = await run("consult", "reschedule", "CLI-MOVE-1", "1", "--slot", "2026-12-14T09:00", code=2)
    assert "no UTC offset" in naive
    assert "has not started yet" in await run(
        "consult", "complete", "CLI-MOVE-1", "--outcome", "specialist-absent", code=2
    )
    assert "not the booked one" in await run("consult", "cancel", "CLI-MOVE-1", "2", code=2)

    out = await run("consult", "reschedule", "CLI-MOVE-1", "1", "--slot", second)
    assert out.strip() == "CLI-MOVE-1: CONSULT (sequence 1)"
    status = await run("case", "status", "CLI-MOVE-1")
    assert f"consult #1 booked: {at_desk(second)} (invitation sequence 1)" in status, status
    as_json = json.loads(await run("case", "status", "CLI-MOVE-1", "--json"))
    assert datetime.fromisoformat(as_json["consult_at"]) == datetime.fromisoformat(second)
    assert datetime.fromisoformat(as_json["consult_at"]).utcoffset() is not None

    out = await run("consult", "cancel", "CLI-MOVE-1", "1")
    assert out.strip() == "CLI-MOVE-1: CONSULT (the next booking is free)"
    status = await run("case", "status", "CLI-MOVE-1")
    assert "free rebookings owed: 1" in status and "booked:" not in status, status
