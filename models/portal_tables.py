"""The portal's tables: sign-in links and member sessions.

Nothing here holds PHI: a link or session is known by the sha256 of its random token, and
the date of birth a member must give is kept only as a keyed hash bound to the case.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Field as Column
from sqlmodel import SQLModel

MAX_DOB_ATTEMPTS = 5


def utcnow() -> datetime:
    return datetime.now(UTC)


class PortalLink(SQLModel, table=True):
    """One emailed sign-in link: single use, short-lived, locked after 5 wrong dates of birth."""

    __tablename__ = "portal_links"

    token_hash: str = Column(primary_key=True, max_length=64)
    case_id: str = Column(index=True, max_length=64)
    dob_hash: str = Column(max_length=64)
    created_at: datetime = Column(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
    failed_attempts: int = 0
    locked_at: datetime | None = None
    # The language of the email that carried it: the sign-in page opens in it.
    language: str | None = Column(default=None, max_length=8)


class PortalSession(SQLModel, table=True):
    """A signed-in member's session; the cookie holds the id, the table its sha256."""

    __tablename__ = "portal_sessions"

    sid_hash: str = Column(primary_key=True, max_length=64)
    case_id: str = Column(index=True, max_length=64)
    actor: str = Column(max_length=80)
    created_at: datetime = Column(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None
