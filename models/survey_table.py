"""The case DB's answered surveys (migration 0012), for `smo report outcomes`."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class SurveyAnswerRow(SQLModel, table=True):
    """One member's answers: one row per case, the first write wins."""

    __tablename__ = "survey_answers"

    case_id: str = Field(primary_key=True, max_length=64)
    program: str = Field(index=True, max_length=40)
    answered_at: datetime = Field(index=True)
    satisfaction: int
    will_follow: bool
