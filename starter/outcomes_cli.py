"""`smo report outcomes --month 2026-12`: what the month's opinions changed, from the case DB on
the server, beside the month's SLA figures. `--json` prints it as one object, `--chart` draws
it. Imports stay light at module level so `smo --help` stays fast."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def outcomes_command(
    month: Annotated[str, typer.Option("--month", help="The month, YYYY-MM (reports made in it, ICT).")],
    program: Annotated[str | None, typer.Option("--program", help="One program only.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
    chart: Annotated[Path | None, typer.Option("--chart", help="Write the chart to this PNG.")] = None,
) -> None:
    """What the month's opinions changed (diagnosis, treatment, surgery avoided), beside the SLA."""
    from pydantic import ValidationError

    from calendars import CalendarService
    from models.program import ProgramConfigError, load_programs
    from models.report import SlaReportRequest
    from models.settings import Settings
    from reports.monthly import month_reports
    from runtime.db import SchemaNotAtHead, make_engine

    settings = Settings()
    try:
        programs = load_programs(settings.programs_dir)
    except ProgramConfigError as exc:
        _fail(str(exc))
    if program is not None and program not in programs:
        _fail(f"unknown program {program!r}; known: {', '.join(sorted(programs))}")
    try:
        request = SlaReportRequest(month=month, program=program)
    except ValidationError as exc:
        _fail(exc.errors()[0]["msg"].removeprefix("Value error, "))
    if chart is not None and chart.is_dir():
        _fail(f"{chart} is a directory; give a file name")
    engine = make_engine(settings.db_url)
    try:
        _, report = month_reports(engine, CalendarService(settings.holiday_overrides), programs, request)
    except SchemaNotAtHead as exc:
        _fail(str(exc), 1)
    finally:
        engine.dispose()
    if chart is not None:
        from reports.outcomes import draw

        draw(report, chart)
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    n = report.cases_reported

    def share(rate: float | None) -> str:
        return "n/a" if rate is None else f"{rate:.1%}"

    typer.echo(f"Outcomes {report.month} ({report.program or 'all programs'}): {n} report(s)")
    typer.echo(
        f"  diagnosis confirmed {report.diagnosis_confirmed}, refined {report.diagnosis_refined},"
        f" changed {report.diagnosis_changed} ({share(report.diagnosis_changed_rate)})"
    )
    typer.echo(f"  treatment changed {report.treatment_changed} ({share(report.treatment_changed_rate)})")
    typer.echo(f"  surgery avoided {report.surgery_avoided}")
    if report.satisfaction_mean is None:
        typer.echo("  survey: no answers yet")
    else:
        typer.echo(
            f"  survey: satisfaction {report.satisfaction_mean:.1f} of 5,"
            f" answered {share(report.survey_response_rate)},"
            f" will follow the advice {share(report.will_follow_rate)}"
        )
    typer.echo(
        f"  SLA: {report.sla_on_time} of {report.sla_reports} on time ({share(report.sla_on_time_rate)})"
    )
    typer.echo(f"  follow-ups: {report.follow_ups_on_time} of {report.follow_ups_answered} answered on time")


def register(report_app: typer.Typer) -> None:
    report_app.command("outcomes")(outcomes_command)
