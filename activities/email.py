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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.policy import Compat32
from email.utils import formatdate, parseaddr
from enum import StrEnum
from string import Template
from typing import Protocol

import aiosmtplib
import structlog
from pydantic import BaseModel
from sqlalchemy import Engine, bindparam, insert, select, update
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.storage import DocumentNotFound, DocumentStore
from models.db import EmailDelivery, EmailRow, Specialist, table, utcnow
from models.intake import PatientIntake
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
    NoticeKind.PORTAL_LINK: (Role.CUSTOMER,),
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
    NoticeKind.PORTAL_LINK: "Your sign-in link for $case_id",
}

BODIES: dict[NoticeKind, str] = {
    NoticeKind.CASE_OPENED: "Dear $name,\n\nWe have opened your Second Medical Opinion request"
    " $case_id. Please send us: $records.\n$portal",
    NoticeKind.INELIGIBLE: "Dear $name,\n\nYour request $case_id is not eligible: $item\n",
    NoticeKind.RECORDS_REMINDER: "Dear $name,\n\nWe are still waiting for: $records (reminder $n).\n",
    NoticeKind.RECORDS_LAPSED: "Dear $name,\n\nWe did not receive your medical records, so"
    " request $case_id has lapsed. You may open a new request at any time.\n",
    NoticeKind.RECORDS_TO_SPECIALIST: "Dear $name,\n\nCase $case_id is assigned to you. The"
    " complete records:\n$links\nYour written report is due $due.\n$portal",
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
    NoticeKind.PORTAL_LINK: "Dear $name,\n\n$portal",
}

# The member's notices that carry a fresh single-use sign-in link to the portal.
SIGN_IN_KINDS = frozenset({NoticeKind.CASE_OPENED, NoticeKind.PORTAL_LINK})
SIGN_IN_TEXT = (
    "\nSign in to your case page to see where it stands, add documents or change your contact"
    " details (the link works once, until $until; you will be asked for your date of birth):\n  $url\n"
)


ASSIGNMENT_TEXT = "\nYour page for this assignment (records, report, questions, decline):\n  $url\n"


class PortalMail(Protocol):
    """The portal's links: a member's single-use sign-in, a specialist's assignment page."""

    def sign_in_url(self, case_id: str, dob: date) -> tuple[str, datetime]: ...

    def assignment_url(self, case_id: str, assignment_no: int, specialist_id: str) -> str: ...


class MailConfig(BaseModel):
    mail_from: str
    coordinator: str
    supervisor: str
    link_ttl: timedelta = timedelta(hours=72)


class _PlainHeaders(Compat32):
    """compat32 that writes a short plain-ASCII header as it is.

    compat32 wraps every header in an `email.header.Header` to fold it at 78 columns, which
    costs more than the rest of the message; a header that needs no folding or encoding comes
    out of it unchanged, so it is written directly (tests/test_email_wire.py compares the two).
    """

    def fold_binary(self, name: str, value: str) -> bytes:
        # Printable ASCII only: the Header folds at any line boundary str.splitlines knows
        # (\x1c-\x1e and \x85 among them), not only CR and LF.
        if (
            isinstance(value, str)
            and value.isascii()
            and value.isprintable()
            and len(name) + 2 + len(value) <= 78
            and value == value.strip()
        ):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


# What aiosmtplib's send_message writes for a compat32 message (it normalises line endings to
# CRLF and dot-stuffs on sending), built without a header object per header, and without its
# mbox habit of writing a body line that begins "From " as ">From ".
WIRE_POLICY = _PlainHeaders()


class SmtpMailer:
    """The SMTP client. It keeps a few sessions open between messages: a connection and its
    EHLO cost the worker more than the message itself. A session that errs in any way is
    closed, never reused, so a retry always starts on a fresh connection."""

    def __init__(
        self, host: str, port: int, timeout: float = 15.0, *, pool_size: int = 4, idle_seconds: float = 20.0
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.pool_size = pool_size
        # Below the idle timeouts of common servers (aiosmtpd 300 s, Postfix 300 s).
        self.idle_seconds = idle_seconds
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self._key: tuple[str, int, asyncio.AbstractEventLoop] | None = None

    def _take(self) -> aiosmtplib.SMTP | None:
        loop = asyncio.get_running_loop()
        if self._key != (self.host, self.port, loop):
            # Another server (the settings changed) or another event loop: forget the old ones.
            self._key, self._idle = (self.host, self.port, loop), []
        deadline = loop.time() - self.idle_seconds
        while self._idle:
            client, since = self._idle.pop()
            if client.is_connected and since > deadline:
                return client
            client.close()
        return None

    async def send(self, message: Message, *, sender: str, recipients: list[str]) -> None:
        """Send one message to these envelope addresses (the caller knows them: reading them
        back out of the headers is an address parse per header)."""
        data = message.as_bytes(policy=WIRE_POLICY)
        client = self._take()
        if client is not None:
            try:
                await client.sendmail(sender, recipients, data)
            except aiosmtplib.SMTPServerDisconnected:
                client.close()  # the server dropped an idle session: one fresh attempt below
            except BaseException:
                client.close()
                raise
            else:
                self._give(client)
                return
        client = aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=self.timeout)
        try:
            await client.connect()
            await client.sendmail(sender, recipients, data)
        except BaseException:
            client.close()
            raise
        self._give(client)

    def _give(self, client: aiosmtplib.SMTP) -> None:
        if len(self._idle) < self.pool_size and self._key == (
            self.host,
            self.port,
            asyncio.get_running_loop(),
        ):
            self._idle.append((client, asyncio.get_running_loop().time()))
        else:
            client.close()


def _permanent(exc: aiosmtplib.SMTPException) -> bool:
    """A 5xx answer will not change on retry; 4xx and connection errors may."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(r.code >= 500 for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code >= 500
    return False


_EMAILS, _DELIVERIES, _SPECIALISTS = table(EmailRow), table(EmailDelivery), table(Specialist)
# Built once: constructing and cache-keying a statement on every call is a visible part of
# a notice's cost.
# (Names apart from the columns': an UPDATE keeps those for its SET clause.)
_THIS_NOTICE = _EMAILS.c.notice_id == bindparam("this_notice")
_NOTICE_STATE = select(_EMAILS.c.status, _EMAILS.c.sent_at).where(_THIS_NOTICE)
_NEW_NOTICE = insert(_EMAILS).values(status="sending", attempts=1)
_ONE_MORE_ATTEMPT = update(_EMAILS).where(_THIS_NOTICE).values(attempts=_EMAILS.c.attempts + 1)
_NOTICE_SENT = update(_EMAILS).where(_THIS_NOTICE).values(status="sent", sent_at=bindparam("at"))
_DELIVERED_ROLES = select(_DELIVERIES.c.role).where(_DELIVERIES.c.notice_id == bindparam("notice_id"))
_DELIVERY = select(_DELIVERIES.c.role).where(
    _DELIVERIES.c.notice_id == bindparam("notice_id"), _DELIVERIES.c.role == bindparam("role")
)
_NEW_DELIVERY = insert(_DELIVERIES)
_SPECIALIST_ADDRESS = select(_SPECIALISTS.c.email, _SPECIALISTS.c.name).where(
    _SPECIALISTS.c.specialist_id == bindparam("specialist_id")
)


@dataclass(frozen=True)
class _Begun:
    """What a send attempt starts from: sent already, or who has it and who it goes to."""

    sent_at: datetime | None = None
    delivered: set[str] = field(default_factory=set)
    specialist: tuple[str, str] | None = None  # email, name
    intake: PatientIntake | None = None


# Quoted-printable keeps a mostly-ASCII body readable on the wire, as the default policy does.
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP


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
        portal: PortalMail | None = None,
    ) -> None:
        self.engine = engine
        self.portal = portal
        self.mailer = mailer
        self.store = store
        self.signer = signer
        self.config = config
        self._sender = parseaddr(config.mail_from)[1] or config.mail_from

    # The bookkeeping is SQLAlchemy Core on one connection per step, with statements built
    # once (module level): an ORM session per read and write cost the worker more than the
    # SMTP exchange itself.
    def _begin(self, notice: Notice) -> _Begun:
        """Claim the notice (one more attempt) and gather what sending needs, in one transaction."""
        key = {"notice_id": notice.notice_id}
        with self.engine.begin() as conn:
            row = conn.execute(_NOTICE_STATE, {"this_notice": notice.notice_id}).first()
            if row is not None and row.status == "sent":
                return _Begun(sent_at=row.sent_at)
            if row is None:
                conn.execute(
                    _NEW_NOTICE,
                    key
                    | {
                        "case_id": notice.case_id,
                        "kind": notice.kind.value,
                        "message_id": message_id_for(notice.notice_id),
                    },
                )
                delivered: set[str] = set()
            else:
                conn.execute(_ONE_MORE_ATTEMPT, {"this_notice": notice.notice_id})
                delivered = set(conn.scalars(_DELIVERED_ROLES, key))
            specialist = None
            if notice.specialist_id is not None:
                found = conn.execute(_SPECIALIST_ADDRESS, {"specialist_id": notice.specialist_id}).first()
                specialist = (found.email, found.name) if found is not None else None
        intake = None
        if notice.intake_doc_id:
            try:
                intake = self.store.load_intake(notice.intake_doc_id)
            except DocumentNotFound:
                raise ApplicationError(
                    "the intake sheet is missing from the store", type="IntakeMissing", non_retryable=True
                ) from None
        return _Begun(delivered=delivered, specialist=specialist, intake=intake)

    def _record(self, notice_id: str, role: Role | None, message_id: str, sent_at: datetime | None) -> None:
        """After the server's 250: this recipient has it; with `sent_at`, the whole notice is sent."""
        with self.engine.begin() as conn:
            if role is not None:
                key = {"notice_id": notice_id, "role": role.value}
                # An attempt that overlapped this one may have recorded it first.
                if conn.execute(_DELIVERY, key).first() is None:
                    conn.execute(_NEW_DELIVERY, key | {"message_id": message_id, "sent_at": utcnow()})
            if sent_at is not None:
                conn.execute(_NOTICE_SENT, {"this_notice": notice_id, "at": sent_at})

    def _portal_text(self, notice: Notice, role: Role, intake: PatientIntake | None) -> str:
        if self.portal is None:
            return ""
        if role is Role.CUSTOMER and intake is not None and notice.kind in SIGN_IN_KINDS:
            url, until = self.portal.sign_in_url(notice.case_id, intake.date_of_birth)
            return Template(SIGN_IN_TEXT).substitute(url=url, until=until.strftime("%Y-%m-%d %H:%M UTC"))
        to_specialist = role is Role.SPECIALIST and notice.kind is NoticeKind.RECORDS_TO_SPECIALIST
        if to_specialist and notice.specialist_id:
            # The notice id ends in the assignment number: `<case>:records_to_specialist:<n>`.
            assignment_no = int(notice.notice_id.rsplit(":", 1)[1])
            url = self.portal.assignment_url(notice.case_id, assignment_no, notice.specialist_id)
            return Template(ASSIGNMENT_TEXT).substitute(url=url)
        return ""

    def _render(self, notice: Notice, role: Role, name: str, portal: str = "") -> tuple[str, str]:
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
            "portal": portal,
        } | notice.params
        subject = Template(SUBJECTS[notice.kind]).safe_substitute(values)
        body = Template(BODIES[notice.kind]).safe_substitute(values)
        return subject, body

    def _message(self, to: str, subject: str, body: str, notice: Notice, message_id: str) -> Message:
        # The compat32 Message: the default policy's header objects parse every value again
        # and cost several times more; what goes on the wire is the same MIME.
        msg = Message()
        msg["From"] = self.config.mail_from
        msg["To"] = to
        msg["Subject"] = subject if subject.isascii() else Header(subject, "utf-8").encode()
        msg["Message-ID"] = message_id
        msg["X-SMO-Notice-Id"] = notice.notice_id
        msg["X-SMO-Case-Id"] = notice.case_id
        msg["Date"] = formatdate(localtime=False)
        msg.set_payload(body, _UTF8_QP)
        return msg

    @activity.defn(name="send_notice")
    async def send_notice(self, notice: Notice) -> NoticeResult:
        begun = await asyncio.to_thread(self._begin, notice)
        if begun.sent_at is not None:
            metrics.notice(notice.kind, "already_sent")
            return NoticeResult(notice_id=notice.notice_id, sent_at=begun.sent_at, already_sent=True)
        intake = begun.intake
        if intake is not None:
            register_phi(intake.patient_name, intake.diagnosis_text, str(intake.email))

        sent_at = datetime.now(UTC)
        pending = [r for r in RECIPIENTS[notice.kind] if r.value not in begun.delivered]
        for i, role in enumerate(pending):
            if role is Role.CUSTOMER:
                if intake is None:
                    continue
                to, name = str(intake.email), intake.patient_name
            elif role is Role.SPECIALIST:
                if begun.specialist is None:
                    continue
                to, name = begun.specialist
            elif role is Role.COORDINATOR:
                to, name = self.config.coordinator, "coordinator"
            else:
                to, name = self.config.supervisor, "supervisor"
            # A fresh link on every attempt: a retry must not resend a token already spent.
            if role is Role.CUSTOMER and notice.kind in SIGN_IN_KINDS:
                portal = await asyncio.to_thread(self._portal_text, notice, role, intake)  # writes a link row
            else:
                portal = self._portal_text(notice, role, intake)
            subject, body = self._render(notice, role, name, portal)
            # One Message-ID per notice and recipient role: a resend is the same message.
            message_id = message_id_for(f"{notice.notice_id}/{role.value}")
            try:
                await self.mailer.send(
                    self._message(to, subject, body, notice, message_id),
                    sender=self._sender,
                    recipients=[to],
                )
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
            # The last recipient's record also marks the notice sent (one transaction).
            last = i == len(pending) - 1
            await asyncio.to_thread(
                self._record, notice.notice_id, role, message_id, sent_at if last else None
            )
            if last:
                break
        else:
            await asyncio.to_thread(self._record, notice.notice_id, None, "", sent_at)
        log.info("notice sent", notice_id=notice.notice_id, kind=notice.kind.value)
        metrics.notice(notice.kind, "sent")
        return NoticeResult(notice_id=notice.notice_id, sent_at=sent_at, already_sent=False)
