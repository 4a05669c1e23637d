"""What the case asks the mail activity to send: a notice kind, an idempotent id, references.

The workflow names a notice; the email activity resolves recipients and fills in the PHI
from the encrypted store, so nothing here carries a name or an address.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class NoticeKind(StrEnum):
    CASE_OPENED = "case_opened"
    INELIGIBLE = "ineligible"
    RECORDS_REMINDER = "records_reminder"
    RECORDS_LAPSED = "records_lapsed"
    RECORDS_TO_SPECIALIST = "records_to_specialist"
    INFO_REQUESTED = "info_requested"
    INFO_SUPPLIED = "info_supplied"
    SLA_WARNING = "sla_warning"
    SLA_BREACH = "sla_breach"
    SLA_BREACH_REMINDER = "sla_breach_reminder"
    SLA_MOVED = "sla_moved"
    REPORT_DELIVERED = "report_delivered"
    CONSULT_BOOKED = "consult_booked"
    RECEIPT = "receipt"
    CASE_CLOSED = "case_closed"
    CASE_CANCELLED = "case_cancelled"
    TEAM_NOTIFIED = "team_notified"
    ATTENTION = "attention"
    PORTAL_LINK = "portal_link"
    # The one message a request from the public form sends before it is confirmed: fixed words
    # and a confirmation link, nothing the form's sender wrote.
    CONFIRM_REQUEST = "confirm_request"


class Notice(BaseModel):
    notice_id: str = Field(min_length=3, max_length=160)
    case_id: str
    kind: NoticeKind
    intake_doc_id: str | None = None
    specialist_id: str | None = None
    link_doc_ids: list[str] = []
    due_at: datetime | None = None
    # Small, non-PHI values for the template: counts, record types, amounts, slots.
    params: dict[str, str] = {}


class NoticeResult(BaseModel):
    notice_id: str
    sent_at: datetime
    already_sent: bool
