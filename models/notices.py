"""What the case asks the mail activity to send: a notice kind, an idempotent id, references.

The workflow names a notice; the email activity resolves recipients and fills in the PHI
from the encrypted store, so nothing here carries a name or an address. Nor any sentence:
params carry codes (record types, rules, a reason) that the activity names in each reader's
language.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Audience(StrEnum):
    """Who a notice is addressed to: the member, the case's specialist, or the SMO team.

    Not a user's role (`models.users.Role`): the value names the recipient in the delivery
    records (`email_deliveries.role`) and in each message's Message-ID.
    """

    CUSTOMER = "customer"
    SPECIALIST = "specialist"
    COORDINATOR = "coordinator"
    SUPERVISOR = "supervisor"
    PROVIDER = "provider"  # a hospital asked for the member's records (its sheet names it)
    TRANSLATOR = "translator"


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
    # What the member hears between opening and the report: the desk has every record it
    # needs, and a specialist has the case (with the date the report is due).
    RECORDS_COMPLETE = "records_complete"
    SPECIALIST_ASSIGNED = "specialist_assigned"
    # A booked consult's life, each to both sides unless named: moved (its invitation again,
    # one SEQUENCE up), cancelled (a METHOD:CANCEL), reminded (24 hours and 1 hour before),
    # asked after (did it take place: the specialist and the desk), missed (the member and a
    # supervisor), and no slot fitting when the report went out (the desk).
    CONSULT_RESCHEDULED = "consult_rescheduled"
    CONSULT_CANCELLED = "consult_cancelled"
    CONSULT_REMINDER = "consult_reminder"
    CONSULT_CHECK = "consult_check"
    CONSULT_MISSED = "consult_missed"
    CONSULT_NO_SLOTS = "consult_no_slots"
    # Records gathered for the member (models/records.py): a provider's request and its
    # reminders, each with the provider's upload link; a translation task with its link.
    RECORDS_REQUESTED = "records_requested"
    RECORDS_REQUEST_REMINDER = "records_request_reminder"
    TRANSLATION_REQUESTED = "translation_requested"
    # Follow-up questions after the report (models/follow_up.py): asked (the specialist and the
    # desk), answered (the member), and the answer's deadline near and passed.
    FOLLOW_UP_ASKED = "follow_up_asked"
    FOLLOW_UP_ANSWERED = "follow_up_answered"
    FOLLOW_UP_WARNING = "follow_up_warning"
    FOLLOW_UP_BREACH = "follow_up_breach"
    OPINION_TRANSLATION = "opinion_translation"  # the translator: asked (with its deadline), reminded
    OPINION_TRANSLATION_LATE = "opinion_translation_late"
    OPINION_TRANSLATED = "opinion_translated"
    DOCTOR_REPORT = "doctor_report"  # the member's treating doctor: the report's page
    # The member's survey after the report, with its signed link (`n` 1: sent, 2: the reminder).
    SURVEY = "survey"


class Notice(BaseModel):
    notice_id: str = Field(min_length=3, max_length=160)
    case_id: str
    kind: NoticeKind
    intake_doc_id: str | None = None
    specialist_id: str | None = None
    link_doc_ids: list[str] = []
    # A provider's notice: the encrypted sheet with its name, address and language.
    provider_doc_id: str | None = None
    due_at: datetime | None = None
    # The case's program: its words to the member (a refusal's reason and next step, the
    # report's notice) and its consult terms. None on notices sent before it was named.
    program: str | None = None
    # Small, non-PHI values for the template: counts, codes (record types, rules, a reason, a
    # charge), amounts, instants in ISO 8601. A consult's notices carry `slot` (its start,
    # "%Y-%m-%d %H:%M %z"), `n` (its number) and `seq` (its invitation's SEQUENCE); a reminder
    # `before` ("24h", "1h"); a missed one `who` ("member", "specialist") and `free` ("1": the
    # next booking is free); no slots `near` ("<ISO start>|<reason>" joined by ";").
    params: dict[str, str] = {}


class NoticeResult(BaseModel):
    notice_id: str
    sent_at: datetime
    already_sent: bool
