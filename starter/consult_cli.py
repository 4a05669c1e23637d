"""`smo consult slots|book|complete`: the telephone consults after the report, through the API."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer

from starter.api_client import Api
from starter.cli_common import PLAIN, UserError, case_path, command, post, print_ack

consult_app = typer.Typer(help="Telephone consults after the report.", **PLAIN)


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
def consult_book(
    case_id: str,
    slot: Annotated[str, typer.Option(help="ISO 8601 with offset, e.g. 2026-12-14T09:00+07:00")],
) -> None:
    """Book a telephone consult (the program's free ones first, then billed with a receipt)."""

    def run() -> None:
        try:
            when = datetime.fromisoformat(slot)
        except ValueError:
            raise UserError(f"--slot {slot!r} is not an ISO 8601 date-time") from None
        if when.utcoffset() is None:
            raise UserError(f"--slot {slot!r}: no UTC offset (e.g. 2026-12-14T09:00+07:00)")
        print_ack(Api().request("POST", f"{case_path(case_id)}/consults", body={"slot": when.isoformat()}))

    command(run)


@consult_app.command("complete")
def consult_complete(case_id: str) -> None:
    """Mark the booked consult as held."""
    post(case_id, "consults/complete")
