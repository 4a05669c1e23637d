"""Email notices over real SMTP (aiosmtplib), exactly once per notice id as far as SMTP allows.

The workflow names a notice (kind + id + references); this activity resolves the
recipients and fills in the PHI (the customer's name and address) from the encrypted
intake sheet, so none of it passes through history.

Idempotency: the `emails` table remembers each notice id and `email_deliveries` each
recipient it reached, so a retry sends only what is missing. A crash between the SMTP
server's 250 and that record can resend one message, with the same Message-ID, which the
receiving side treats as the same message (the outbox keeps one copy).
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from enum import StrEnum
from string import Template

import aiosmtplib
import structlog
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.storage import DocumentNotFound, DocumentStore
from models.db import EmailDelivery, EmailRow, Specialist
from models.notices import Notice, NoticeKind, NoticeResult
from runtime import metrics
from security.links import LinkSigner
from security.redaction import register_phi

# The notice models live in models/ (the workflow imports them); re-exported for callers.
__all__ = ["EmailActivities", "MailConfig", "Notice", "NoticeKind", "NoticeResult", "SmtpMailer"]

log = structlog.get_logger(__name__)


class Role(StrEnum):
    CUSTOMER = "customer"
    SPECIALIST = "specialist"
    COORDINATOR = "coordinator"
    SUPERVISOR = "supervisor"


RECIPIENTS: dict[NoticeKind, tuple[Role, ...]] = {
    NoticeKind.CASE_OPENED: (Role.CUSTOMER,),
    NoticeKind.INELIGIBLE: (Role.CUSTOMER, Role.COORDINATOR),
    NoticeKind.RECORDS_REMINDER: (Role.CUSTOMER,),
    NoticeKind.RECORDS_LAPSED: (Role.CUSTOMER, Role.COORDINATOR),
    NoticeKind.RECORDS_TO_SPECIALIST: (Role.SPECIALIST,),
    NoticeKind.INFO_REQUESTED: (Role.CUSTOMER, Role.COORDINATOR),
    NoticeKind.INFO_SUPPLIED: (Role.SPECIALIST,),
    NoticeKind.SLA_WARNING: (Role.SPECIALIST, Role.COORDINATOR),
    NoticeKind.SLA_BREACH: (Role.SUPERVISOR, Role.COORDINATOR),
    NoticeKind.SLA_BREACH_REMINDER: (Role.SUPERVISOR,),
    NoticeKind.SLA_MOVED: (Role.SPECIALIST, Role.COORDINATOR),
    NoticeKind.REPORT_DELIVERED: (Role.CUSTOMER,),
    NoticeKind.CONSULT_BOOKED: (Role.CUSTOMER, Role.SPECIALIST),
    NoticeKind.RECEIPT: (Role.CUSTOMER,),
    NoticeKind.CASE_CLOSED: (Role.CUSTOMER,),
    NoticeKind.CASE_CANCELLED: (Role.CUSTOMER, Role.COORDINATOR),
    NoticeKind.TEAM_NOTIFIED: (Role.COORDINATOR,),
    NoticeKind.ATTENTION: (Role.SUPERVISOR,),
}

# Subjects carry no PHI: mail subjects end up in logs and notification previews.
SUBJECTS: dict[NoticeKind, str] = {
    NoticeKind.CASE_OPENED: "Your Second Medical Opinion request $case_id",
    NoticeKind.INELIGIBLE: "Second Medical Opinion request $case_id: not eligible",
    NoticeKind.RECORDS_REMINDER: "Reminder: medical records needed for $case_id",
    NoticeKind.RECORDS_LAPSED: "Second Medical Opinion request $case_id has lapsed",
    NoticeKind.RECORDS_TO_SPECIALIST: "New SMO case $case_id: complete records",
    NoticeKind.INFO_REQUESTED: "More information needed for $case_id",
    NoticeKind.INFO_SUPPLIED: "Information supplied for $case_id",
    NoticeKind.SLA_WARNING: "SLA warning: report for $case_id due $due",
    NoticeKind.SLA_BREACH: "SLA BREACH: report for $case_id was due $due",
    NoticeKind.SLA_BREACH_REMINDER: "SLA breach continues: $case_id (due $due)",
    NoticeKind.SLA_MOVED: "SLA deadline moved for $case_id: now due $due",
    NoticeKind.REPORT_DELIVERED: "Your Second Medical Opinion report is ready ($case_id)",
    NoticeKind.CONSULT_BOOKED: "Telephone consultation booked ($case_id)",
    NoticeKind.RECEIPT: "Receipt for $item ($case_id)",
    NoticeKind.CASE_CLOSED: "Your Second Medical Opinion case $case_id is closed",
    NoticeKind.CASE_CANCELLED: "Second Medical Opinion case $case_id cancelled",
    NoticeKind.TEAM_NOTIFIED: "Case $case_id: $item",
    NoticeKind.ATTENTION: "Attention needed on $case_id: $item",
}

BODIES: dict[NoticeKind, str] = {
    NoticeKind.CASE_OPENED: "Dear $name,\n\nWe have opened your Second Medical Opinion request"
    " $case_id. Please send us: $records.\n",
    NoticeKind.INELIGIBLE: "Dear $name,\n\nYour request $case_id is not eligible: $item\n",
    NoticeKind.RECORDS_REMINDER: "Dear $name,\n\nWe are still waiting for: $records (reminder $n).\n",
    NoticeKind.RECORDS_LAPSED: "Dear $name,\n\nWe did not receive your medical records, so"
    " request $case_id has lapsed. You may open a new request at any time.\n",
    NoticeKind.RECORDS_TO_SPECIALIST: "Dear $name,\n\nCase $case_id is assigned to you. The"
    " complete records:\n$links\nYour written report is due $due.\n",
    NoticeKind.INFO_REQUESTED: "Dear $name,\n\nThe specialist needs more information for"
    " $case_id: $item. The report clock is paused until it arrives.\n",
    NoticeKind.INFO_SUPPLIED: "Dear $name,\n\nThe information for $case_id has arrived:\n"
    "$links\nThe report is now due $due.\n",
    NoticeKind.SLA_WARNING: "Dear $name,\n\nThe report for $case_id is due $due.\n",
    NoticeKind.SLA_BREACH: "The report for $case_id was due $due and has not arrived."
    " The case offers reassignment (smo specialist assign).\n",
    NoticeKind.SLA_BREACH_REMINDER: "The report for $case_id is still missing (due $due, reminder $n).\n",
    NoticeKind.SLA_MOVED: "Dear $name,\n\nA holiday decree ($decree) moved the report deadline for"
    " $case_id from $old to $due.\n",
    NoticeKind.REPORT_DELIVERED: "Dear $name,\n\nYour Second Medical Opinion report is ready."
    " Download it here (the link expires $expires):\n$links\n\nYou may book $item.\n$notice\n",
    NoticeKind.CONSULT_BOOKED: "Dear $name,\n\nTelephone consultation $n for $case_id is booked for $slot.\n",
    NoticeKind.RECEIPT: "Dear $name,\n\nWe charged $amount for $item (case $case_id)."
    " Reference: $reference.\n",
    NoticeKind.CASE_CLOSED: "Dear $name,\n\nCase $case_id is closed.$item\n",
    NoticeKind.CASE_CANCELLED: "Dear $name,\n\nCase $case_id was cancelled.\n",
    NoticeKind.TEAM_NOTIFIED: "Case $case_id: $item.\n",
    NoticeKind.ATTENTION: "Case $case_id needs attention: $item.\n",
}


class MailConfig(BaseModel):
    mail_from: str
    coordinator: str
    supervisor: str
    link_ttl: timedelta = timedelta(hours=72)


class SmtpMailer:
    """The SMTP client: one connection per message keeps retries independent."""

    def __init__(self, host: str, port: int, timeout: float = 15.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(message, hostname=self.host, port=self.port, timeout=self.timeout)


def _permanent(exc: aiosmtplib.SMTPException) -> bool:
    """A 5xx answer will not change on retry; 4xx and connection errors may."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(r.code >= 500 for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code >= 500
    return False


def message_id_for(notice_id: str) -> str:
    return f"<{hashlib.sha256(notice_id.encode()).hexdigest()[:32]}@smo-orchestrator>"


class EmailActivities:
    def __init__(
        self,
        engine: Engine,
        mailer: SmtpMailer,
        store: DocumentStore,
        signer: LinkSigner,
        config: MailConfig,
    ) -> None:
        self.engine = engine
        self.mailer = mailer
        self.store = store
        self.signer = signer
        self.config = config

    def _claim(self, notice: Notice) -> EmailRow | None:
        """Mark the notice as being sent; None if it was already sent."""
        with Session(self.engine) as session:
            row = session.get(EmailRow, notice.notice_id)
            if row is not None and row.status == "sent":
                return row
            if row is None:
                row = EmailRow(
                    notice_id=notice.notice_id,
                    case_id=notice.case_id,
                    kind=notice.kind.value,
                    status="sending",
                    message_id=message_id_for(notice.notice_id),
                )
            row.attempts += 1
            session.add(row)
            session.commit()
            return None

    def _mark_sent(self, notice_id: str, at: datetime) -> None:
        with Session(self.engine) as session:
            row = session.get(EmailRow, notice_id)
            assert row is not None
            row.status = "sent"
            row.sent_at = at
            session.add(row)
            session.commit()

    def _delivered(self, notice_id: str) -> set[str]:
        with Session(self.engine) as session:
            rows = session.exec(select(EmailDelivery.role).where(EmailDelivery.notice_id == notice_id))
            return set(rows)

    def _mark_delivered(self, notice_id: str, role: Role, message_id: str) -> None:
        with Session(self.engine) as session:
            if session.get(EmailDelivery, (notice_id, role.value)) is None:
                session.add(EmailDelivery(notice_id=notice_id, role=role.value, message_id=message_id))
                session.commit()

    def _specialist(self, specialist_id: str | None) -> Specialist | None:
        if specialist_id is None:
            return None
        with Session(self.engine) as session:
            return session.get(Specialist, specialist_id)

    def _render(self, notice: Notice, role: Role, name: str) -> tuple[str, str]:
        now = datetime.now(UTC)
        links = "\n".join(
            f"  {self.signer.sign(notice.case_id, d, now + self.config.link_ttl)}"
            for d in notice.link_doc_ids
        )
        values = {
            "case_id": notice.case_id,
            "name": name,
            "due": notice.due_at.strftime("%Y-%m-%d %H:%M %Z") if notice.due_at else "",
            "links": links,
            "expires": (now + self.config.link_ttl).strftime("%Y-%m-%d %H:%M UTC"),
            "records": "",
            "item": "",
            "n": "",
            "slot": "",
            "amount": "",
            "reference": "",
            "notice": "",
        } | notice.params
        subject = Template(SUBJECTS[notice.kind]).safe_substitute(values)
        body = Template(BODIES[notice.kind]).safe_substitute(values)
        return subject, body

    @activity.defn(name="send_notice")
    async def send_notice(self, notice: Notice) -> NoticeResult:
        existing = await asyncio.to_thread(self._claim, notice)
        if existing is not None:
            assert existing.sent_at is not None
            metrics.notice(notice.kind, "already_sent")
            return NoticeResult(notice_id=notice.notice_id, sent_at=existing.sent_at, already_sent=True)

        intake = None
        if notice.intake_doc_id:
            try:
                intake = await asyncio.to_thread(self.store.load_intake, notice.intake_doc_id)
            except DocumentNotFound:
                raise ApplicationError(
                    "the intake sheet is missing from the store", type="IntakeMissing", non_retryable=True
                ) from None
            register_phi(intake.patient_name, intake.diagnosis_text, str(intake.email))
        specialist = await asyncio.to_thread(self._specialist, notice.specialist_id)
        delivered = await asyncio.to_thread(self._delivered, notice.notice_id)

        for role in RECIPIENTS[notice.kind]:
            if role.value in delivered:
                continue  # a retry after a partial failure: this recipient has it already
            if role is Role.CUSTOMER:
                if intake is None:
                    continue
                to, name = str(intake.email), intake.patient_name
            elif role is Role.SPECIALIST:
                if specialist is None:
                    continue
                to, name = specialist.email, specialist.name
            elif role is Role.COORDINATOR:
                to, name = self.config.coordinator, "coordinator"
            else:
                to, name = self.config.supervisor, "supervisor"
            subject, body = self._render(notice, role, name)
            msg = EmailMessage()
            msg["From"] = self.config.mail_from
            msg["To"] = to
            msg["Subject"] = subject
            # One Message-ID per notice and recipient role: a resend is the same message.
            message_id = message_id_for(f"{notice.notice_id}/{role.value}")
            msg["Message-ID"] = message_id
            msg["X-SMO-Notice-Id"] = notice.notice_id
            msg["X-SMO-Case-Id"] = notice.case_id
            msg.set_content(body)
            try:
                await self.mailer.send(msg)
            except aiosmtplib.SMTPException as exc:
                if not _permanent(exc):
                    raise  # 4xx, connection trouble: the retry policy handles it
                raise ApplicationError(
                    f"the mail server permanently rejected the {role.value} message",
                    type="MailRejected",
                    non_retryable=True,
                ) from None
            # Recorded right after the server's 250: only a crash in between can resend,
            # and then with the same Message-ID, which the receiving side de-duplicates.
            await asyncio.to_thread(self._mark_delivered, notice.notice_id, role, message_id)
        sent_at = datetime.now(UTC)
        await asyncio.to_thread(self._mark_sent, notice.notice_id, sent_at)
        log.info("notice sent", notice_id=notice.notice_id, kind=notice.kind.value)
        metrics.notice(notice.kind, "sent")
        return NoticeResult(notice_id=notice.notice_id, sent_at=sent_at, already_sent=False)
