"""What a member's case page shows, built from the case's stage and what it holds (`status`).

Each part of the page is there only while it is true: the due date before the report (and not
while the clock is stopped), the report and the booked consultation once they exist, the
slots to book while the case takes a booking (web.portal.consult_view works them out), the
upload form while it takes records (the workflow says so, by its validators' rules), with the
documents still needed named as a member reads them. Sentences written here are marked for the
catalog and translated in the page's language (`runtime.i18n.current`, set from the case
before the page is built).
"""

from __future__ import annotations

from typing import Any

from models.case import CaseStatus, RecordType, SlaState, Stage
from models.consent import CONSENT_TEXT, consent_version
from runtime import i18n
from runtime.i18n import N_, gettext
from runtime.portal_links import SESSION_TTL
from runtime.words import record_types
from web.portal.consult_view import ENDS, STARTS, MemberConsult
from web.portal.member_release import release_defaults
from web.portal.opinion_view import OpinionView
from web.portal.record_facts import document_languages
from web.uploads import MEMBER_RECORD_TYPES

STAGE_WORDS: dict[Stage, str] = {
    Stage.INTAKE: N_("We have received your request."),
    Stage.ELIGIBILITY: N_("We are checking that your cover includes a second opinion."),
    Stage.GATHERING_RECORDS: N_("We are collecting your medical records."),
    Stage.ASSIGNING_SPECIALIST: N_("We are choosing the specialist who will review your case."),
    Stage.UNDER_REVIEW: N_("A specialist is reviewing your medical records."),
    Stage.REPORT_DELIVERED: N_("Your written report is ready."),
    Stage.CONSULT: N_("Your written report is ready."),
    Stage.CLOSED: N_("Your case is closed."),
    Stage.INELIGIBLE: N_("Your cover does not include a second opinion for this request."),
    Stage.LAPSED: N_("Your request lapsed because we did not receive the medical records."),
    Stage.CANCELLED: N_("Your request was cancelled."),
}

# The SLA clock's states as the due-date line tells them (`due` in the page's context).
_DUE = {
    SlaState.RUNNING: "due",
    SlaState.WARNING: "due",
    SlaState.BREACHED: "late",
    SlaState.PAUSED: "paused",
}


def due_line(status: CaseStatus) -> str | None:
    """Which due-date sentence the page says: only while a specialist is writing the report."""
    if status.stage is not Stage.UNDER_REVIEW:
        return None
    line = _DUE.get(status.sla.state)
    if line != "paused" and status.sla.due_at is None:
        return None
    return line


def record_choices(status: CaseStatus) -> list[RecordType]:
    """The upload form's kinds of document: those still needed first."""
    offered: list[RecordType] = list(MEMBER_RECORD_TYPES)
    missing = [t for t in status.records.missing if t in offered]
    return missing + [t for t in offered if t not in missing]


def case_context(
    status: CaseStatus,
    *,
    email: str = "",
    phone: str = "",
    done: str = "",
    consult: MemberConsult | None = None,
) -> dict[str, Any]:
    """The case page's context; `email` and `phone` are what is on file (the form's values),
    `consult` the consult's part (web.portal.consult_view), when the page has one."""
    records, terminal = status.records, status.stage.terminal
    room = None if records.cap is None else max(records.cap - records.documents, 0)
    accepting = records.accepting and not terminal
    return {
        "status": status,
        "stage_words": gettext(STAGE_WORDS[status.stage]),
        "done": gettext(done) if done else "",
        "missing": record_types(records.missing) if status.stage is Stage.GATHERING_RECORDS else [],
        "due": due_line(status),
        "due_at": status.sla.due_at,
        "terminal": terminal,
        "booked": status.consult_pending,
        "can_book": status.consult_open and not terminal,
        # A booking the case owes free of charge (a cancel, a missed consult) comes first.
        "free_booking": bool(status.free_consults_left or status.consult_rebook_free),
        "consult": consult,
        "hour_starts": STARTS,
        "hour_ends": ENDS,
        "accepting": accepting,
        "room": room,
        "can_upload": accepting and room != 0,
        "record_types": record_choices(status),
        "consent_text": gettext(CONSENT_TEXT),
        "consent_version": consent_version(i18n.current().value),
        "email": email,
        "phone": phone,
        "session_hours": int(SESSION_TTL.total_seconds() // 3600),
        # What the member's page reads from the encrypted store (web.portal.member fills them).
        "named": {},
        "opinion": OpinionView(summary=None, answers=[], follow_ups=[]),
        "can_ask": False,
        "document_languages": document_languages(),
        **release_defaults(),
    }
