"""`smo consult book|complete`: the telephone consults after the report, through the API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from starter.api_client import Api
from starter.cli_common import PLAIN, UserError, case_path, command, post, print_ack

consult_app = typer.Typer(help="Telephone consults after the report.", **PLAIN)


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
        print_ack(Api().request("POST", f"{case_path(case_id)}/consults", body={"slot": when.isoformat()}))

    command(run)


@consult_app.command("complete")
def consult_complete(case_id: str) -> None:
    """Mark the booked consult as held."""
    post(case_id, "consults/complete")
