"""`smo specialist …`, `smo info …` and `smo report submit`: the specialist's review, through the API.

Assignment and declines, stop-the-clock (the specialist asks for more, the coordinator
supplies it) and the written report. `smo report sla`, the monthly report read from the
case DB on the server, joins the same `report` group from `starter.report_cli`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from models.vocabulary import Diagnosis, InfoReason, RecordType, Treatment
from starter.api_client import Api
from starter.cli_common import EXISTING, PLAIN, UserError, case_path, command, out, post, upload
from starter.outcomes_cli import register as register_outcomes
from starter.report_cli import register as register_report_sla

specialist_app = typer.Typer(help="Specialist assignment.", **PLAIN)
report_app = typer.Typer(help="The specialist's written report, and the monthly SLA report.", **PLAIN)
info_app = typer.Typer(help="Stop the clock: more information for the specialist.", **PLAIN)
# `smo report sla` (server-side, reads the case DB) joins `smo report submit`, listed first as
# it always was; its module imports only typer at load time.
register_report_sla(report_app)
register_outcomes(report_app)


@specialist_app.command("assign")
def specialist_assign(case_id: str, specialist_id: str) -> None:
    """Assign (or reassign) a specialist: specialty, certification, capacity and conflict are checked."""
    post(case_id, "specialist", {"specialist_id": specialist_id})


@specialist_app.command("decline")
def specialist_decline(
    case_id: str,
    specialist: Annotated[str, typer.Option(help="The declining specialist's id")],
    reason: Annotated[str, typer.Option()],
) -> None:
    """Record a specialist's decline: the case is reassigned."""
    post(case_id, "specialist/decline", {"specialist_id": specialist, "reason": reason})


@specialist_app.command("list")
def specialist_list(specialty: Annotated[str | None, typer.Option()] = None) -> None:
    """The roster."""

    def run() -> None:
        rows = Api().request("GET", "/api/v1/specialists", query={"specialty": specialty})["specialists"]
        table = Table("id", "name", "specialty", "board", "capacity", "affiliation")
        for r in rows:
            table.add_row(
                r["specialist_id"],
                r["name"],
                r["specialty"],
                r["board"] if r["board_certified"] else "[red]not certified[/]",
                str(r["capacity"]),
                r["affiliation"],
            )
        out.print(table)

    command(run)


def _text_of(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise UserError(f"{path}: cannot read the {what} (a UTF-8 text file)") from None



@report_app.command("submit")
def report_submit(
    case_id: str,
    file: Annotated[Path, typer.Argument(help="The full report, for the treating doctor", **EXISTING)],
    specialist: Annotated[str, typer.Option(help="The assigned specialist's id")],
    summary: Annotated[
        Path | None, typer.Option(help="The plain-language summary for the member (UTF-8 text)", **EXISTING)
    ] = None,
    answers: Annotated[
        Path | None,
        typer.Option(help="A JSON list of strings: one answer per question, in order", **EXISTING),
    ] = None,
    diagnosis: Annotated[Diagnosis | None, typer.Option(case_sensitive=False)] = None,
    treatment: Annotated[Treatment | None, typer.Option(case_sensitive=False)] = None,
    surgery_avoided: Annotated[
        bool, typer.Option("--surgery-avoided", help="Surgery was advised against")
    ] = False,
) -> None:
    """Submit the report: the SLA is met; with --summary and the outcome, the member's summary and
    an answer to each of their questions go with it."""

    def run() -> None:
        if summary is not None or diagnosis is not None or treatment is not None or answers is not None:
            if summary is None or diagnosis is None or treatment is None:
                raise UserError("the opinion needs --summary, --diagnosis and --treatment together")
            try:
                given = json.loads(_text_of(answers, "answers")) if answers is not None else []
            except ValueError:
                raise UserError(f"{answers}: the answers are not valid JSON") from None
            if not isinstance(given, list) or not all(isinstance(a, str) for a in given):
                raise UserError(
                    f"{answers}: a JSON list of strings, one answer per question in the order asked"
                )
            outcome = {
                "diagnosis": diagnosis.value,
                "treatment": treatment.value,
                "surgery_avoided": surgery_avoided,
            }
            body = {"specialist_id": specialist, "summary": _text_of(summary, "summary"), "answers": given}
            Api().request("POST", f"{case_path(case_id)}/opinion", body=body | {"outcome": outcome})
        upload(case_id, "report", [file], {"specialist_id": specialist})

    command(run)


@info_app.command("request")
def info_request(
    case_id: str,
    reason: Annotated[InfoReason, typer.Option(case_sensitive=False)],
    record_type: Annotated[list[RecordType] | None, typer.Option("--type")] = None,
) -> None:
    """The specialist needs more: the SLA clock stops, keeping the working days used."""
    post(
        case_id,
        "info/request",
        {"reason": reason.value, "record_types": [t.value for t in record_type or []]},
    )


@info_app.command("supply")
def info_supply(
    case_id: str,
    files: Annotated[list[Path] | None, typer.Argument(**EXISTING)] = None,
    record_type: Annotated[RecordType, typer.Option("--type", case_sensitive=False)] = RecordType.OTHER,
) -> None:
    """Supply the requested information: the clock restarts with the days that remain."""
    upload(case_id, "info/supply", files or [], {"record_type": record_type.value})
