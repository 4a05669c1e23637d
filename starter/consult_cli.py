"""`smo consult slots|book|reschedule|cancel|complete|hours`: the telephone consults after the
report, through the API.

A slot is checked here to be an instant (ISO 8601 with its UTC offset) before anything is sent;
the rest (the slot rule, the notice, the consult's number, the zone and the hours) is the API's
to decide. A refusal prints its reason on stderr and exits 2, as every command's does.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated

import typer

from starter.api_client import Api
from starter.cli_common import PLAIN, UserError, case_path, command, out, post, print_ack

consult_app = typer.Typer(help="Telephone consults after the report.", **PLAIN)

SLOT_HELP = "ISO 8601 with offset, e.g. 2026-12-14T09:00+07:00"
Number = Annotated[int, typer.Argument(min=1, max=999, help="the booked consult's number (smo case status)")]


class Outcome(StrEnum):
    """How a consult went, as the desk types it (the API's outcome with dashes)."""

    DONE = "done"
    MEMBER_ABSENT = "member-absent"
    SPECIALIST_ABSENT = "specialist-absent"


def _slot(slot: str) -> str:
    """The slot as the API takes it; one without a UTC offset is refused before any request."""
    try:
        when = datetime.fromisoformat(slot)
    except ValueError:
        raise UserError(f"--slot {slot!r} is not an ISO 8601 date-time") from None
    if when.utcoffset() is None:
        raise UserError(f"--slot {slot!r}: no UTC offset (e.g. 2026-12-14T09:00+07:00)")
    return when.isoformat()


@consult_app.command("slots")
def consult_slots(
    case_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="a JSON list of the slots")] = False,
) -> None:
    """The slots that fit the member and the specialist for the next 10 working days."""

    def run() -> None:
        found = Api().request("GET", f"{case_path(case_id)}/consults/slots")
        slots, misses = found["slots"], found.get("near_misses", [])
        if as_json:
            typer.echo(json.dumps([{k: v for k, v in s.items() if k != "reason"} for s in slots], indent=2))
        else:
            for s in slots:
                typer.echo(f"{s['start']}  {s['member_local']} = {s['specialist_local']}")
        if not slots:  # the desk is told, on stderr beside a JSON answer
            lines = [f"{case_id}: no slot fits {found['specialist_id']} in the next 10 working days"]
            lines += [
                f"  near miss: {m['member_local']} = {m['specialist_local']} ({m['reason']})" for m in misses
            ]
            typer.echo("\n".join(lines), err=as_json)

    command(run)


@consult_app.command("book")
def consult_book(case_id: str, slot: Annotated[str, typer.Option(help=SLOT_HELP)]) -> None:
    """Book a telephone consult (the program's free ones first, then billed with a receipt)."""
    command(
        lambda: print_ack(Api().request("POST", f"{case_path(case_id)}/consults", body={"slot": _slot(slot)}))
    )


@consult_app.command("reschedule")
def consult_reschedule(
    case_id: str, number: Number, slot: Annotated[str, typer.Option(help=SLOT_HELP)]
) -> None:
    """Move booked consult NUMBER to another slot, up to the notice limit (both sides are told)."""

    def run() -> None:
        body = {"slot": _slot(slot)}
        print_ack(Api().request("POST", f"{case_path(case_id)}/consults/{number}/reschedule", body=body))

    command(run)


@consult_app.command("cancel")
def consult_cancel(case_id: str, number: Number) -> None:
    """Cancel booked consult NUMBER, up to the notice limit; the next booking is free."""
    post(case_id, f"consults/{number}/cancel")


@consult_app.command("complete")
def consult_complete(
    case_id: str,
    outcome: Annotated[
        Outcome, typer.Option(help="whether it took place, or who did not come")
    ] = Outcome.DONE,
) -> None:
    """Say how the booked consult went: held, or who was absent (an absence may leave a free rebooking)."""
    post(case_id, "consults/complete", {"outcome": outcome.value.replace("-", "_")})


@consult_app.command("hours")
def consult_hours(
    case_id: str,
    zone: Annotated[
        str | None, typer.Option(help="the member's IANA time zone, e.g. Asia/Phnom_Penh")
    ] = None,
    hours: Annotated[str | None, typer.Option(help="every day, in that zone, e.g. 08:00-21:00")] = None,
) -> None:
    """The hours the member takes consult calls; with --zone and --hours, set them for the member."""

    def run() -> None:
        path = f"{case_path(case_id)}/consults/hours"
        if zone is None and hours is None:
            found = Api().request("GET", path)
        elif zone is None or hours is None:
            raise UserError("give both --zone and --hours (or neither, to see them)")
        else:
            found = Api().request("POST", path, body={"zone": zone, "hours": hours})
        out.print(f"{found['case_id']}: {found['hours']} {found['zone']}", markup=False, highlight=False)

    command(run)
