"""The portal's tables and form inputs: sign-in links, sessions, and what a member may post.

Nothing here holds PHI: a link or session is known by the sha256 of its random token, and
the date of birth a member must give is kept only as a keyed hash bound to the case.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints
from sqlmodel import Field as Column
from sqlmodel import SQLModel

from models.vocabulary import InfoReason, RecordType

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


class PortalSession(SQLModel, table=True):
    """A signed-in member's session; the cookie holds the id, the table its sha256."""

    __tablename__ = "portal_sessions"

    sid_hash: str = Column(primary_key=True, max_length=64)
    case_id: str = Column(index=True, max_length=64)
    actor: str = Column(max_length=80)
    created_at: datetime = Column(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None


class DobForm(BaseModel):
    """The date of birth a member types at first sign-in (compared, never stored)."""

    model_config = ConfigDict(extra="ignore")

    date_of_birth: date


class ContactForm(BaseModel):
    """The contact details a member may change themselves."""

    model_config = ConfigDict(extra="ignore")

    email: EmailStr
    phone: str = Field(default="", max_length=40, pattern=r"^[0-9+() .-]*$")


class ConsultForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    slot: datetime


class RecordsForm(BaseModel):
    record_type: RecordType


class SignInLink(BaseModel):
    """What `POST /api/v1/cases/{id}/portal-link` answers: the case and when the link expires."""

    case_id: str
    expires_at: datetime
    notice_id: str


class InfoForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reason: InfoReason


class DeclineForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reason: Annotated[str, StringConstraints(min_length=3, max_length=500, strip_whitespace=True)]


class SendPortalLink(BaseModel):
    """The `send_portal_link` update: email the member a fresh sign-in link."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    by: str = Field(min_length=1, max_length=64)
