"""The SLA clock's boundary models: what the case asks the calendar, and what it records.

A deadline is always computed from the clock's whole record (when the complete records
reached the specialist, and every stop-the-clock interval since), so the same request
answers a pause, a resume and a holiday decree alike.
"""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class SlaRule(BaseModel):
    """The program's SLA terms, snapshotted at intake."""

    model_config = ConfigDict(frozen=True)

    working_days: int
    calendars: list[str]
    timezone: str = "Asia/Phnom_Penh"
    close_of_business: str = "17:00"
    warn_ratio: float | None = 0.8

    @property
    def cob(self) -> time:
        return time.fromisoformat(self.close_of_business)


class Pause(BaseModel):
    """One stop-the-clock interval: the specialist waits for more information."""

    model_config = ConfigDict(frozen=True)

    start: AwareDatetime
    end: AwareDatetime | None = None


class DeadlineRequest(BaseModel):
    """When is the report due, given the clock's record so far?

    `already_elapsed` is the older form (whole working days used before a restart); a
    request with `pauses` carries the full record instead and the calendar applies the
    stop-the-clock rule itself.
    """

    rule: SlaRule
    received_at: datetime
    already_elapsed: int = 0
    pauses: list[Pause] = Field(default_factory=list)


class ElapsedRequest(BaseModel):
    rule: SlaRule
    day0: date
    at: datetime


class NextCloseRequest(BaseModel):
    rule: SlaRule
    after: datetime


class CalendarChange(BaseModel):
    """A holiday decree was saved: open clocks recompute their deadline from their record."""

    model_config = ConfigDict(frozen=True)

    decree: str = Field(min_length=1, max_length=120)
    added: list[date] = Field(default_factory=list)
    removed: list[date] = Field(default_factory=list)
    digest: str = Field(default="", max_length=64)


class RoundOutcome(StrEnum):
    MET = "met"  # the report arrived by the deadline
    LATE = "late"  # the report arrived after the deadline
    REASSIGNED = "reassigned"  # the round ended without a report (decline, breach reassignment)
    CANCELLED = "cancelled"


class SlaRoundRecord(BaseModel):
    """One review round's SLA facts, written to the case DB when the round ends (no PHI)."""

    model_config = ConfigDict(frozen=True)

    case_id: str = Field(max_length=64)
    program: str = Field(max_length=40)
    assignment_no: int = Field(ge=1)
    specialist_id: str = Field(max_length=40)
    working_days: int = Field(ge=1)
    calendars: list[str]
    received_at: AwareDatetime
    due_at: AwareDatetime | None
    ended_at: AwareDatetime
    outcome: RoundOutcome
    warned: bool = False
    breached: bool = False
    paused_working_days: int = 0
