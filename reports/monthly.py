"""A month's SLA and outcomes reports from the case DB, as `smo report outcomes` and the monthly
email (activities/monthly_report.py) both read them: the rounds that ended in the month and the
reports made in it (no Temporal query: the open rounds past due are `smo report sla`'s)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from tempfile import TemporaryDirectory

from sqlalchemy import Engine

from calendars import CalendarService
from models.program import Program
from models.report import SlaReport, SlaReportRequest
from reports.outcomes import OutcomesReport, answers_of, build, follow_ups_in, reported_in
from reports.sla import SlaReportBuilder
from reports.source import ended_rounds, specialist_names
from runtime.db import check_schema


def month_reports(
    engine: Engine, calendars: CalendarService, programs: Mapping[str, Program], request: SlaReportRequest
) -> tuple[SlaReport, OutcomesReport]:
    """The month's SLA report and its outcomes report (SchemaNotAtHead if the DB is behind)."""
    check_schema(engine)
    builder = SlaReportBuilder(calendars, {name: p.terms() for name, p in programs.items()})
    sla = builder.build(request, ended_rounds(engine, request), specialist_names=specialist_names(engine))
    reported = reported_in(engine, request)
    answers = answers_of(engine, sorted({r.case_id for r in reported}))
    return sla, build(request, reported, sla, answers, follow_ups_in(engine, request))


def monthly_email(
    engine: Engine, calendars: CalendarService, programs: Mapping[str, Program], month: str
) -> tuple[str, list[tuple[str, bytes]]]:
    """The monthly email's text and its two charts (file name, PNG) for `month` (all programs)."""
    from reports.chart import draw as draw_sla
    from reports.outcomes import draw as draw_outcomes

    sla, outcomes = month_reports(engine, calendars, programs, SlaReportRequest(month=month))
    share = "n/a" if sla.on_time_rate is None else f"{sla.on_time_rate:.1%}"
    text = (
        f"The SMO report for {month} (all programs).\n\n"
        f"SLA: {sla.on_time} of {sla.reports} reports on time ({share}), {sla.late} late.\n"
        f"Outcomes: {outcomes.cases_reported} report(s); diagnosis changed"
        f" {outcomes.diagnosis_changed}, treatment changed {outcomes.treatment_changed},"
        f" surgery avoided {outcomes.surgery_avoided}.\n"
        f"Follow-up questions: {outcomes.follow_ups_answered} answered,"
        f" {outcomes.follow_ups_on_time} within their working days.\n\n"
        f"The details: smo report sla --month {month} and smo report outcomes --month {month}.\n"
    )
    with TemporaryDirectory(prefix="smo-monthly-") as tmp:  # charts of counts and case ids: no PHI
        paths = (
            draw_sla(sla, Path(tmp) / f"sla-{month}.png"),
            draw_outcomes(outcomes, Path(tmp) / f"outcomes-{month}.png"),
        )
        return text, [(path.name, path.read_bytes()) for path in paths]
