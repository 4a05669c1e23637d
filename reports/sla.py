"""The monthly SLA report's arithmetic: each round's turnaround and the month's figures.

Everything is counted from the case's own records (the `sla_rounds` rows its workflow wrote):
turnaround is the number of working days, on the round's own calendars, from the working day
the complete records reached the specialist (day 0) to the working day the round ended, less
the working days the clock was stopped. A report in before close of business on working day
N took N days; one after close of business counts into the next working day, which is the
rule that makes a report on time exactly when its turnaround is at most the SLA's N.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

import numpy as np

from calendars import CalendarService, CalendarSet, compute_due, elapsed_working_days
from models.case import ProgramTerms
from models.db import SlaRound
from models.report import BreachCount, OpenPastDue, RoundFigures, SlaReport, SlaReportRequest, WeekFigures

DEFAULT_TERMS_TZ = "Asia/Phnom_Penh"
DEFAULT_COB = dt.time(17, 0)
# What a round's figures carry over from its `sla_rounds` row as it is: every field the two
# share by name (case, program, assignment, specialist, the instants, outcome, breach, pause).
_CARRIED = set(RoundFigures.model_fields) & set(SlaRound.model_fields)


def working_day_of(instant: dt.datetime, calendars: CalendarSet, tz: str, cob: dt.time) -> dt.date:
    """The working day whose business `instant` belongs to (after close: the next one)."""
    # compute_due's day 0 is exactly that rule, applied to the receipt of the records.
    return compute_due(instant, 1, calendars, tz=tz, close_of_business=cob, warn_ratio=None).day0


def turnaround(
    received_at: dt.datetime,
    ended_at: dt.datetime,
    calendars: CalendarSet,
    *,
    tz: str,
    cob: dt.time,
    paused_working_days: int = 0,
) -> int:
    """Working days from receipt to the end of the round, less the stopped-clock days."""
    day0 = working_day_of(received_at, calendars, tz, cob)
    last = working_day_of(ended_at, calendars, tz, cob)
    close_of_last = dt.datetime.combine(last, cob, tzinfo=ZoneInfo(tz))
    used = elapsed_working_days(day0, close_of_last, calendars, tz=tz, close_of_business=cob)
    return max(used - paused_working_days, 0)


def working_days_overdue(
    due_at: dt.datetime, as_of: dt.datetime, calendars: CalendarSet, *, tz: str, cob: dt.time
) -> int:
    """Whole working days whose close of business has passed since the deadline."""
    due_day = due_at.astimezone(ZoneInfo(tz)).date()
    return elapsed_working_days(due_day, as_of, calendars, tz=tz, close_of_business=cob)


class SlaReportBuilder:
    """Turns `sla_rounds` rows into the month's figures, on each program's own SLA terms."""

    def __init__(self, calendars: CalendarService, terms: Mapping[str, ProgramTerms]) -> None:
        self.calendars = calendars
        self.terms = terms

    def zone_and_cob(self, program: str) -> tuple[str, dt.time]:
        terms = self.terms.get(program)
        if terms is None:
            # A program since retired from programs/: its rounds still count, on the default terms.
            return DEFAULT_TERMS_TZ, DEFAULT_COB
        return terms.sla_timezone, dt.time.fromisoformat(terms.close_of_business)

    def ended_in(self, row: SlaRound, request: SlaReportRequest) -> bool:
        tz, _ = self.zone_and_cob(row.program)
        local_day = row.ended_at.astimezone(ZoneInfo(tz)).date()
        return request.first_day <= local_day < request.next_first_day

    def figures(self, row: SlaRound) -> RoundFigures:
        tz, cob = self.zone_and_cob(row.program)
        codes = [c for c in row.calendars.split(",") if c]
        calendars = self.calendars.calendars(codes)
        local_end = row.ended_at.astimezone(ZoneInfo(tz)).date()
        paused = row.paused_working_days
        days = turnaround(
            row.received_at, row.ended_at, calendars, tz=tz, cob=cob, paused_working_days=paused
        )
        return RoundFigures(
            **row.model_dump(include=_CARRIED),
            sla_working_days=row.working_days,
            turnaround_working_days=days,
            week=local_end - dt.timedelta(days=local_end.weekday()),
        )

    def build(
        self,
        request: SlaReportRequest,
        rows: Iterable[SlaRound],
        *,
        specialist_names: Mapping[str, str] | None = None,
        open_past_due: Sequence[OpenPastDue] = (),
    ) -> SlaReport:
        names = specialist_names or {}
        chosen = [
            row
            for row in rows
            if (request.program is None or row.program == request.program) and self.ended_in(row, request)
        ]
        figures = sorted((self.figures(r) for r in chosen), key=lambda f: (f.ended_at, f.case_id))
        reported = [f for f in figures if f.reported]
        on_time = sum(f.on_time for f in reported)
        days = [f.turnaround_working_days for f in reported]
        return SlaReport(
            month=request.month,
            program=request.program,
            as_of=request.as_of,
            rounds=len(figures),
            reports=len(reported),
            on_time=on_time,
            late=len(reported) - on_time,
            on_time_rate=on_time / len(reported) if reported else None,
            median_turnaround_working_days=float(np.median(days)) if days else None,
            # Nearest rank: the smallest turnaround that 90 % of the reports did not exceed.
            p90_turnaround_working_days=(
                float(np.percentile(days, 90, method="inverted_cdf")) if days else None
            ),
            by_specialist=_breaches(figures, lambda f: f.specialist_id, names),
            by_program=_breaches(figures, lambda f: f.program, {}),
            by_week=_weeks(reported),
            open_past_due=sorted(open_past_due, key=lambda o: (o.due_at, o.case_id)),
            round_figures=figures,
        )


def _breaches(
    figures: Sequence[RoundFigures], key: Callable[[RoundFigures], str], names: Mapping[str, str]
) -> list[BreachCount]:
    groups: dict[str, list[RoundFigures]] = defaultdict(list)
    for f in figures:
        groups[key(f)].append(f)
    counts = [
        BreachCount(
            key=k,
            name=names.get(k, ""),
            rounds=len(group),
            reports=sum(f.reported for f in group),
            late=sum(f.reported and not f.on_time for f in group),
            breaches=sum(f.counts_as_breach for f in group),
        )
        for k, group in groups.items()
    ]
    # The worst first: that is who the manager asks about.
    return sorted(counts, key=lambda c: (-c.breaches, -c.late, c.key))


def _weeks(reported: Sequence[RoundFigures]) -> list[WeekFigures]:
    weeks: dict[dt.date, list[RoundFigures]] = defaultdict(list)
    for f in reported:
        weeks[f.week].append(f)
    return [
        WeekFigures(week=w, on_time=sum(f.on_time for f in fs), late=sum(not f.on_time for f in fs))
        for w, fs in sorted(weeks.items())
    ]
