"""The monthly SLA report's models: its request, each round's figures and the result.

Nothing here is PHI: cases are known by id, specialists by their roster id and name.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class SlaReportRequest(BaseModel):
    """Which rounds to count: those that ended in `month` (in the program's SLA time zone)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    month: str = Field(description="YYYY-MM")
    program: str | None = Field(default=None, max_length=40)
    # "Still open past due" is judged at this instant (the report's run time by default).
    as_of: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))

    @field_validator("month")
    @classmethod
    def _month(cls, value: str) -> str:
        if not _MONTH.fullmatch(value):
            raise ValueError(f"month must look like 2026-11, got {value!r}")
        return value

    @property
    def first_day(self) -> date:
        year, month = (int(part) for part in self.month.split("-"))
        return date(year, month, 1)

    @property
    def next_first_day(self) -> date:
        first = self.first_day
        return date(first.year + first.month // 12, first.month % 12 + 1, 1)


class RoundFigures(BaseModel):
    """One ended review round, with its turnaround counted from its own record."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    program: str
    assignment_no: int
    specialist_id: str
    sla_working_days: int
    received_at: AwareDatetime
    due_at: AwareDatetime | None
    ended_at: AwareDatetime
    outcome: str
    breached: bool
    paused_working_days: int
    # Working days from receipt to the end of the round, stopped-clock days taken off.
    turnaround_working_days: int
    week: date = Field(description="Monday of the round's end week, in the SLA time zone")

    @property
    def reported(self) -> bool:
        return self.outcome in ("met", "late")

    @property
    def on_time(self) -> bool:
        return self.outcome == "met"

    @property
    def counts_as_breach(self) -> bool:
        return self.breached or self.outcome == "late"


class BreachCount(BaseModel):
    """Rounds and breaches for one specialist or one program."""

    key: str
    name: str = ""
    rounds: int
    reports: int
    late: int
    breaches: int


class WeekFigures(BaseModel):
    week: date
    on_time: int
    late: int

    @property
    def on_time_rate(self) -> float | None:
        total = self.on_time + self.late
        return self.on_time / total if total else None


class OpenPastDue(BaseModel):
    """A review round still running after its deadline."""

    case_id: str
    program: str
    assignment_no: int
    specialist_id: str
    due_at: AwareDatetime
    sla_state: str
    working_days_overdue: int


class SlaReport(BaseModel):
    month: str
    program: str | None
    as_of: AwareDatetime
    rounds: int
    reports: int
    on_time: int
    late: int
    on_time_rate: float | None
    median_turnaround_working_days: float | None
    p90_turnaround_working_days: float | None
    by_specialist: list[BreachCount]
    by_program: list[BreachCount]
    by_week: list[WeekFigures]
    open_past_due: list[OpenPastDue]
    round_figures: list[RoundFigures]
