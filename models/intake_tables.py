"""The tables behind the public request form and the portal's limits: confirmation links, hit counters.

Nothing here holds PHI. A confirmation link is known by the sha256 of its random token; a
counter by a keyed hash of what it counts (an email address, a policy number, a link, a case).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field as Column
from sqlmodel import SQLModel

from models.portal_tables import utcnow


class IntakeConfirmation(SQLModel, table=True):
    """One emailed confirmation link of a request from the public form: single use, one day."""

    __tablename__ = "intake_confirmations"

    token_hash: str = Column(primary_key=True, max_length=64)
    case_id: str = Column(index=True, max_length=64)
    created_at: datetime = Column(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class RateCounter(SQLModel, table=True):
    """Hits on one key in its current fixed window, shared by every web process."""

    __tablename__ = "rate_counters"

    key: str = Column(primary_key=True, max_length=80)
    window_start: datetime = Column(index=True)
    hits: int = 0
