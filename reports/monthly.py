"""A month's SLA and outcomes reports from the case DB, as `smo report outcomes` and the monthly
email (activities/monthly_report.py) both read them: the rounds that ended in the month and the
reports made in it (no Temporal query: the open rounds past due are `smo report sla`'s)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Engine

from calendars import CalendarService
from models.program import Program
from models.report import SlaReport, SlaReportRequest
from reports.outcomes import OutcomesReport, answers_of, build, reported_in
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
    return sla, build(request, reported, sla, answers)
