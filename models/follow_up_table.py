"""The case DB's answered follow-up questions (migration 0013): each an SLA round of its own kind,
for `smo report outcomes` (answered in the month, and on time)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class FollowUpRound(SQLModel, table=True):
    """One answered follow-up question's SLA facts (no PHI): one row per question, the first write wins."""

    __tablename__ = "follow_up_rounds"

    case_id: str = Field(primary_key=True, max_length=64)
    n: int = Field(primary_key=True)
    program: str = Field(index=True, max_length=40)
    specialist_id: str = Field(default="", max_length=40)  # the case's specialist when it was asked
    working_days: int
    calendars: str = Field(max_length=40)  # comma-separated calendar codes
    asked_at: datetime
    due_at: datetime
    answered_at: datetime = Field(index=True)
    warned: bool = False
    breached: bool = False
