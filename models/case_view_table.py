"""The case read model's table: one row per case, its status as JSON beside the columns the
case list filters on (indexed). What it holds and who writes it: models/case_view.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field as Column_
from sqlmodel import SQLModel

from models.portal_tables import utcnow


class CaseViewRow(SQLModel, table=True):
    """The row the edges read. The columns the list filters on are indexed; `body` is the status."""

    __tablename__ = "case_views"

    case_id: str = Column_(primary_key=True, max_length=64)
    version: int = 0
    program: str = Column_(index=True, max_length=40)
    stage: str = Column_(index=True, max_length=40)
    specialty: str | None = Column_(default=None, max_length=60)
    sla_state: str = Column_(index=True, max_length=20)
    due_at: datetime | None = Column_(default=None, index=True)
    attention: str | None = Column_(default=None, index=True, max_length=200)
    running: bool = Column_(default=True, index=True)
    # Written by the case itself; false for a view `smo db rebuild-read-model` wrote.
    by_case: bool = True
    opened_at: datetime | None = Column_(default=None, index=True)
    updated_at: datetime = Column_(default_factory=utcnow)
    body: str = Column_(sa_column=Column(Text, nullable=False))
