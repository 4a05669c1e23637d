"""`smo report sla --month 2026-11`: the monthly SLA report, read from the case DB on the server.

On-time rate, median and p90 turnaround in working days (from the `sla_rounds` rows the cases
wrote), breaches by specialist and by program, on time by week, and the rounds still open past
their deadline (Temporal visibility joined with the case DB; `--no-open` leaves them out).
`--json`, `--csv out.csv` (one line per round) and `--chart out.png` export it. Imports stay
light at module level so `smo --help` stays fast.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from models.report import OpenPastDue, SlaReport, SlaReportRequest
    from models.settings import Settings
    from reports.sla import SlaReportBuilder

__all__ = ["register", "report_sla_app", "sla_command"]

report_sla_app = typer.Typer(help="Operations reports from the case DB.", no_args_is_help=True)

CSV_COLUMNS = (
    "case_id", "program", "assignment_no", "specialist_id", "outcome", "sla_working_days",
    "turnaround_working_days", "paused_working_days", "breached", "received_at", "due_at", "ended_at",
)  # fmt: skip


OPEN_CSV_FIELDS = {"case_id", "program", "assignment_no", "specialist_id"}


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _parse_as_of(value: str | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        _fail(f"--as-of must be an ISO date-time with an offset, got {value!r}")
    if parsed.tzinfo is None:
        _fail(f"--as-of needs a UTC offset (e.g. {value}+07:00), got {value!r}")
    return parsed


def sla_command(
    month: Annotated[str, typer.Option("--month", help="The month, YYYY-MM (rounds that ended in it).")],
    program: Annotated[str | None, typer.Option("--program", help="One program only.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
    chart: Annotated[Path | None, typer.Option("--chart", help="Write the chart to this PNG.")] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Write each round to this CSV.")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Judge 'open past due' at this instant (default: now).")
    ] = None,
    no_open: Annotated[
        bool, typer.Option("--no-open", help="Leave out the open rounds (no Temporal connection).")
    ] = False,
) -> None:
    """The monthly SLA report: on-time rate, turnaround, breaches, open past due."""
    import asyncio

    from pydantic import ValidationError

    from calendars import CalendarService
    from models.program import ProgramConfigError, load_programs
    from models.report import SlaReportRequest
    from models.settings import Settings
    from reports.sla import SlaReportBuilder
    from reports.source import ended_rounds, specialist_names
    from runtime.db import SchemaNotAtHead, check_schema, make_engine

    settings = Settings()
    try:
        programs = load_programs(settings.programs_dir)
    except ProgramConfigError as exc:
        _fail(str(exc))
    if program is not None and program not in programs:
        _fail(f"unknown program {program!r}; known: {', '.join(sorted(programs))}")
    try:
        request = SlaReportRequest(month=month, program=program, as_of=_parse_as_of(as_of))
    except ValidationError as exc:
        _fail(exc.errors()[0]["msg"].removeprefix("Value error, "))
    for out in (chart, csv_path):
        if out is not None and out.is_dir():
            _fail(f"{out} is a directory; give a file name")

    builder = SlaReportBuilder(
        CalendarService(settings.holiday_overrides), {name: p.terms() for name, p in programs.items()}
    )
    engine = make_engine(settings.db_url)
    try:
        check_schema(engine)
        rows = ended_rounds(engine, request)
        names = specialist_names(engine)
        late_open: list[OpenPastDue] = []
        if not no_open:
            late_open = asyncio.run(_open_past_due(settings, engine, builder, request))
    except SchemaNotAtHead as exc:
        _fail(str(exc), 1)
    finally:
        engine.dispose()
    report = builder.build(request, rows, specialist_names=names, open_past_due=late_open)

    if csv_path is not None:
        _write_csv(report, csv_path)
    if chart is not None:
        from reports.chart import draw

        draw(report, chart)
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        _print(report, no_open)


async def _open_past_due(
    settings: Settings, engine: Engine, builder: SlaReportBuilder, request: SlaReportRequest
) -> list[OpenPastDue]:
    from temporalio.service import RPCError

    from reports.source import open_past_due
    from runtime.temporal import connect

    hint = "(--no-open reports the ended rounds only)"
    try:
        client = await connect(settings)
        return await open_past_due(client, engine, builder, request)
    except RPCError as exc:
        _fail(f"Temporal at {settings.temporal_address} refused to list the open rounds: {exc} {hint}", 1)
    except RuntimeError as exc:
        _fail(f"cannot connect to Temporal at {settings.temporal_address}: {exc} {hint}", 1)


def _write_csv(report: SlaReport, path: Path) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*CSV_COLUMNS, "working_days_overdue"])
        writer.writeheader()
        for f in report.round_figures:
            row = f.model_dump(mode="json", include=set(CSV_COLUMNS))
            writer.writerow(row | {"working_days_overdue": ""})
        for o in report.open_past_due:
            open_row = o.model_dump(mode="json", include=OPEN_CSV_FIELDS)
            writer.writerow(
                open_row
                | {"outcome": "open_past_due", "due_at": o.due_at.isoformat()}
                | {"working_days_overdue": o.working_days_overdue}
            )


def _print(report: SlaReport, no_open: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from starter.cli_common import at_desk

    console = Console()
    scope = report.program or "all programs"
    rate = "n/a" if report.on_time_rate is None else f"{report.on_time_rate:.1%}"
    console.print(f"[bold]SLA report {report.month}[/bold] ({scope}), as of {at_desk(report.as_of)}")
    console.print(
        f"reports {report.reports} · on time {report.on_time} ({rate}) · late {report.late} · "
        f"median {_days(report.median_turnaround_working_days)} · "
        f"p90 {_days(report.p90_turnaround_working_days)} working days"
    )
    without = report.rounds - report.reports
    if without:
        console.print(f"rounds ended without a report (reassigned or cancelled): {without}")
    for title, counts in (("by specialist", report.by_specialist), ("by program", report.by_program)):
        table = Table(title=f"Breaches {title}", title_justify="left")
        for column in ("", "rounds", "reports", "late", "breaches"):
            table.add_column(column, justify="left" if not column else "right")
        for c in counts:
            label = f"{c.key} ({c.name})" if c.name else c.key
            table.add_row(label, str(c.rounds), str(c.reports), str(c.late), str(c.breaches))
        console.print(table)
    weeks = Table(title="On time by week", title_justify="left")
    for column in ("week of", "on time", "late", "rate"):
        weeks.add_column(column, justify="right")
    for w in report.by_week:
        share = "" if w.on_time_rate is None else f"{w.on_time_rate:.0%}"
        weeks.add_row(w.week.isoformat(), str(w.on_time), str(w.late), share)
    console.print(weeks)
    if no_open:
        console.print("open past due: not listed (--no-open)")
        return
    late = Table(title=f"Open past due ({len(report.open_past_due)})", title_justify="left")
    for column in ("case", "program", "specialist", "round", "due", "working days over"):
        late.add_column(column)
    for o in report.open_past_due:
        late.add_row(
            o.case_id, o.program, o.specialist_id, str(o.assignment_no),
            at_desk(o.due_at), str(o.working_days_overdue),
        )  # fmt: skip
    console.print(late)


def _days(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:g}"


def register(report_app: typer.Typer) -> None:
    """Add `sla` to the `smo report` group."""
    report_app.command("sla")(sla_command)


@report_sla_app.callback()
def _reports() -> None:
    """Operations reports from the case DB."""


register(report_sla_app)

if __name__ == "__main__":
    report_sla_app()
