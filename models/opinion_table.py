"""The case DB's row per report: what the opinion changed (migration 0012), for `smo report outcomes`."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class OpinionOutcome(SQLModel, table=True):
    """One report's outcome: the first write per (case, report) wins, so a retry adds nothing."""

    __tablename__ = "opinion_outcomes"

    case_id: str = Field(primary_key=True, max_length=64)
    reported_at: datetime = Field(primary_key=True, index=True)
    program: str = Field(index=True, max_length=40)
    specialist_id: str = Field(max_length=40)
    diagnosis: str = Field(max_length=16)
    treatment: str = Field(max_length=16)
    surgery_avoided: bool = False
