"""The portal's inputs: what a member or a specialist may post, and the update that re-sends a link.

Plain pydantic models (the case workflow imports this module); the tables are in
`models.portal_tables`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from models.case import CaseId
from models.input_text import Email, Phone
from models.vocabulary import InfoReason, RecordType


class DobForm(BaseModel):
    """The date of birth a member types at first sign-in (compared, never stored)."""

    model_config = ConfigDict(extra="ignore")

    date_of_birth: date


class ContactForm(BaseModel):
    """The contact details a member may change themselves: each alone, an empty field is kept.

    The phone keeps the rule of every edge (`models.input_text.Phone`).
    """

    model_config = ConfigDict(extra="ignore")

    email: Email | None = None
    phone: Phone | None = None

    @field_validator("email", "phone", mode="before")
    @classmethod
    def _empty_keeps(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


class NewLinkForm(BaseModel):
    """A request for a new sign-in link: the case number and the date of birth (compared, never stored)."""

    model_config = ConfigDict(extra="ignore")

    case_id: CaseId
    date_of_birth: date


class ConsultForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    slot: datetime


class RecordsForm(BaseModel):
    record_type: RecordType


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
