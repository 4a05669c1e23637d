"""The `send_notice` activity: who receives each notice, and each message sent exactly once.

The workflow names a notice (kind + id + references); this activity resolves the
recipients and fills in the PHI (the customer's name and address) from the encrypted
intake sheet, so none of it passes through history. Each recipient reads the notice in their
own language and zone (`activities.notice_values`): the member in their case's language (the
intake sheet's `language`), everyone else in English. The words are in the templates
(`activities.notice_templates`), the SMTP session in `runtime.mail`.

Idempotency: the `emails` table remembers each notice id and `email_deliveries` each
recipient it reached, so a retry sends only what is missing. A crash between the SMTP
server's 250 and that record can resend one message, with the same Message-ID, which the
receiving side treats as the same message (the outbox keeps one copy).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.utils import formatdate, parseaddr

import aiosmtplib
import structlog
from pydantic import BaseModel
from sqlalchemy import Engine, bindparam, func, insert, select, update
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.consult_invite import calendar_part, caller_phone, consult_invite
from activities.notice_recipients import RECIPIENTS
from activities.notice_templates import render_notice
from activities.notice_values import (
    MINTING_KINDS,
    SPECIALIST_PAGE_KINDS,
    PortalMail,
    Reader,
    assignment_no_of,
    portal_text,
    template_values,
)
from activities.storage import DocumentNotFound, DocumentStore
from models.db import Assignment, EmailDelivery, EmailRow, MemberConsultHours, Specialist, table, utcnow
from models.intake import PatientIntake
from models.notices import Audience, Notice, NoticeKind, NoticeResult
from models.program import Program
from models.records import ProviderSheet
from models.vocabulary import Language, language_of
from runtime import metrics
from runtime.i18n import zone_of
from runtime.mail import SmtpMailer, permanent
from security.links import LinkSigner, Right
from security.redaction import register_phi

log = structlog.get_logger(__name__)


__all__ = ["RECIPIENTS", "Audience", "EmailActivities", "MailConfig", "assignment_no_of", "message_id_for"]


class MailConfig(BaseModel):
    mail_from: str
    coordinator: str
    supervisor: str
    translator: str = ""  # none: the coordinator's address takes translation tasks
    link_ttl: timedelta = timedelta(hours=72)


_EMAILS, _DELIVERIES, _SPECIALISTS = table(EmailRow), table(EmailDelivery), table(Specialist)
_ASSIGNMENTS, _MEMBER_HOURS = table(Assignment), table(MemberConsultHours)
# Built once: constructing and cache-keying a statement on every call is a visible part of
# a notice's cost.
# (Names apart from the columns': an UPDATE keeps those for its SET clause.)
_THIS_NOTICE = _EMAILS.c.notice_id == bindparam("this_notice")
_NOTICE_STATE = select(_EMAILS.c.status, _EMAILS.c.sent_at).where(_THIS_NOTICE)
_NEW_NOTICE = insert(_EMAILS).values(status="sending", attempts=1)
_ONE_MORE_ATTEMPT = update(_EMAILS).where(_THIS_NOTICE).values(attempts=_EMAILS.c.attempts + 1)
_NOTICE_SENT = update(_EMAILS).where(_THIS_NOTICE).values(status="sent", sent_at=bindparam("at"))
_DELIVERED_AUDIENCES = select(_DELIVERIES.c.role).where(_DELIVERIES.c.notice_id == bindparam("notice_id"))
_DELIVERY = select(_DELIVERIES.c.role).where(
    _DELIVERIES.c.notice_id == bindparam("notice_id"), _DELIVERIES.c.role == bindparam("role")
)
_NEW_DELIVERY = insert(_DELIVERIES)
_SPECIALIST_ADDRESS = select(_SPECIALISTS.c.email, _SPECIALISTS.c.name, _SPECIALISTS.c.timezone).where(
    _SPECIALISTS.c.specialist_id == bindparam("specialist_id")
)
# The zone the member gave for their calls (none: ICT), and the specialist's active assignment.
_MEMBER_ZONE = select(_MEMBER_HOURS.c.timezone).where(_MEMBER_HOURS.c.case_id == bindparam("case_id"))
_ACTIVE = (_ASSIGNMENTS.c.specialist_id == bindparam("specialist_id"), _ASSIGNMENTS.c.status == "active")
_ACTIVE_ASSIGNMENT = select(func.max(_ASSIGNMENTS.c.assignment_no)).where(
    _ASSIGNMENTS.c.case_id == bindparam("case_id"), *_ACTIVE
)


@dataclass(frozen=True)
class _Begun:
    """What a send attempt starts from: sent already, or who has it and who it goes to."""

    sent_at: datetime | None = None
    delivered: set[str] = field(default_factory=set)
    specialist: tuple[str, str, str] | None = None  # email, name, time zone
    intake: PatientIntake | None = None
    member_zone: str | None = None  # IANA; None: ICT
    assignment_no: int | None = None  # the specialist's page asked after a consult
    provider: ProviderSheet | None = None  # a provider's notice: whom it goes to


# Quoted-printable keeps a mostly-ASCII body readable on the wire, as the default policy does.
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP


def message_id_for(notice_id: str) -> str:
    return f"<{hashlib.sha256(notice_id.encode()).hexdigest()[:32]}@smo-orchestrator>"


class EmailActivities:
    """`send_notice`, with its case DB, SMTP client, document store, link signers and the
    programs (their words to the member, their consult terms) injected."""

    def __init__(
        self,
        engine: Engine,
        mailer: SmtpMailer,
        store: DocumentStore,
        signer: LinkSigner,
        config: MailConfig,
        portal: PortalMail | None = None,
        programs: Mapping[str, Program] | None = None,
    ) -> None:
        self.engine = engine
        self.portal = portal
        self.programs = programs or {}
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
                delivered = set(conn.scalars(_DELIVERED_AUDIENCES, key))
            specialist, assignment_no, case = None, None, {"case_id": notice.case_id}
            if notice.specialist_id is not None:
                found = conn.execute(_SPECIALIST_ADDRESS, {"specialist_id": notice.specialist_id}).first()
                specialist = (found.email, found.name, found.timezone) if found is not None else None
                if notice.kind in SPECIALIST_PAGE_KINDS:
                    ids = case | {"specialist_id": notice.specialist_id}
                    assignment_no = conn.scalar(_ACTIVE_ASSIGNMENT, ids)
            to_member = notice.intake_doc_id and Audience.CUSTOMER in RECIPIENTS[notice.kind]
            member_zone = conn.scalar(_MEMBER_ZONE, case) if to_member else None
        intake = None
        if notice.intake_doc_id:
            try:
                intake = self.store.load_intake(notice.case_id, notice.intake_doc_id)
            except DocumentNotFound:
                raise ApplicationError(
                    "the intake sheet is missing from the store", type="IntakeMissing", non_retryable=True
                ) from None
        provider = None
        if notice.provider_doc_id:
            data = self.store.read_small(notice.case_id, notice.provider_doc_id)
            provider = ProviderSheet.model_validate_json(data)
        return _Begun(
            delivered=delivered,
            specialist=specialist,
            intake=intake,
            member_zone=member_zone,
            assignment_no=assignment_no,
            provider=provider,
        )

    def _record(
        self, notice_id: str, audience: Audience | None, message_id: str, sent_at: datetime | None
    ) -> None:
        """After the server's 250: this recipient has it; with `sent_at`, the whole notice is sent."""
        with self.engine.begin() as conn:
            if audience is not None:
                key = {"notice_id": notice_id, "role": audience.value}
                # An attempt that overlapped this one may have recorded it first.
                if conn.execute(_DELIVERY, key).first() is None:
                    conn.execute(_NEW_DELIVERY, key | {"message_id": message_id, "sent_at": utcnow()})
            if sent_at is not None:
                conn.execute(_NOTICE_SENT, {"this_notice": notice_id, "at": sent_at})

    def _portal_text(
        self, notice: Notice, reader: Reader, intake: PatientIntake | None, assignment_no: int | None = None
    ) -> str:
        """The paragraph with this reader's portal link, if any (`notice_values.portal_text`)."""
        return portal_text(self.portal, notice, reader, intake, assignment_no)

    def _links(self, notice: Notice, reader: Reader, now: datetime) -> str:
        """One signed link per document, each naming the recipient's own right to it.

        The member's right is to the case's report; a specialist's is their assignment, so a
        reassignment, a withdrawn consent or the case's end closes the link (`web.links`).
        Nobody else is sent a document link.
        """
        right, audience, language = None, reader.audience, ""
        if audience is Audience.CUSTOMER:
            # Outside the signature: the page a dead link shows is in the member's language.
            language = f"&lang={reader.language.value}"
            right = Right.member()
        elif audience is Audience.SPECIALIST and notice.specialist_id:
            n = assignment_no_of(notice)
            right = None if n is None else Right.assignment(n, notice.specialist_id)
        if right is None:
            if notice.link_doc_ids:
                log.warning("notice.links_without_right", notice=notice.notice_id, audience=audience.value)
            return ""
        expires = now + self.config.link_ttl
        links = [self.signer.sign(notice.case_id, d, right, expires) for d in notice.link_doc_ids]
        return "\n".join(f"  {link}{language}" for link in links)

    def _values(
        self, notice: Notice, reader: Reader, portal: str, phone: str = "", questions: Sequence[str] = ()
    ) -> dict[str, object]:
        """What the templates fill in for this reader (`activities.notice_values`)."""
        now = datetime.now(UTC)
        program = self.programs.get(notice.program) if notice.program else None
        links = self._links(notice, reader, now)
        expires = now + self.config.link_ttl
        values = template_values(notice, reader, program, links=links, expires=expires, portal=portal)
        return values | {"questions": list(questions)} | ({"phone": phone} if phone else {})

    def _render(
        self, notice: Notice, reader: Reader, portal: str = "", phone: str = "", questions: Sequence[str] = ()
    ) -> tuple[str, str]:
        """Subject and body for one recipient (a kind's one template serves every audience)."""
        values = self._values(notice, reader, portal, phone, questions)
        return render_notice(notice.kind, values, reader.language)

    def _invite(self, notice: Notice, reader: Reader, to: str, phone: str, stamp: datetime) -> str | None:
        """A consult's calendar invitation (or its cancel) for this reader (`activities.consult_invite`)."""
        program = self.programs.get(notice.program) if notice.program else None
        length = program.consults.length_minutes if program is not None else None
        return consult_invite(notice, reader, self._sender, to, phone, length, stamp=stamp)

    def _reader(self, audience: Audience, begun: _Begun) -> tuple[str, Reader] | None:
        """The address and the reader of one audience; None when the case has nobody there."""
        if audience is Audience.CUSTOMER:
            intake = begun.intake
            if intake is None:
                return None
            # The member reads in their case's language, with times in the zone they gave for
            # their calls, else ICT (the programs' zone).
            language, own = language_of(intake.language), zone_of(begun.member_zone)
            return str(intake.email), Reader(audience, intake.patient_name, language, own)
        if audience is Audience.SPECIALIST:
            if begun.specialist is None:
                return None
            to, name, zone = begun.specialist
            return to, Reader(audience, name, zone=zone_of(zone))
        if audience is Audience.PROVIDER:
            sheet = begun.provider
            if sheet is None or sheet.email is None:
                return None
            return str(sheet.email), Reader(audience, sheet.name, sheet.language)
        if audience is Audience.TRANSLATOR:
            return self.config.translator or self.config.coordinator, Reader(audience, "translator")
        # The desk reads English, with times in ICT like every staff surface.
        if audience is Audience.COORDINATOR:
            return self.config.coordinator, Reader(audience, "coordinator")
        return self.config.supervisor, Reader(audience, "supervisor")

    def _message(
        self,
        to: str,
        subject: str,
        body: str,
        notice: Notice,
        message_id: str,
        language: Language,
        invite: str | None = None,
    ) -> Message:
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
        msg["Content-Language"] = language.value
        if invite is None:
            msg.set_payload(body, _UTF8_QP)
            return msg
        # The text and the invitation as alternatives (`consult_invite.calendar_part`).
        msg.set_type("multipart/alternative")
        text = Message()
        text.set_payload(body, _UTF8_QP)
        msg.attach(text)
        msg.attach(calendar_part(invite, notice.kind))
        return msg

    @activity.defn(name="send_notice")
    async def send_notice(self, notice: Notice) -> NoticeResult:
        begun = await asyncio.to_thread(self._begin, notice)
        if begun.sent_at is not None:
            metrics.notice(notice.kind, "already_sent")
            return NoticeResult(notice_id=notice.notice_id, sent_at=begun.sent_at, already_sent=True)
        intake = begun.intake
        if intake is not None:
            register_phi(intake.patient_name, intake.diagnosis_text, str(intake.email), intake.phone)
        if begun.provider is not None:
            register_phi(begun.provider.name, str(begun.provider.email or ""))

        sent_at = datetime.now(UTC)
        pending = [r for r in RECIPIENTS[notice.kind] if r.value not in begun.delivered]
        for i, audience in enumerate(pending):
            addressed = self._reader(audience, begun)
            if addressed is None:
                continue
            to, reader = addressed
            # A fresh link on every attempt: a retry must not resend a token already spent.
            if audience is Audience.CUSTOMER and notice.kind in MINTING_KINDS:
                # Off the event loop: minting the link writes its row.
                portal = await asyncio.to_thread(self._portal_text, notice, reader, intake)
            else:
                portal = self._portal_text(notice, reader, intake, begun.assignment_no)
            # The member's number is for the specialist who calls them, and no one else.
            phone = caller_phone(notice, audience, intake.phone if intake is not None else "")
            # The member's questions go to the specialist with the records, to answer in the report.
            to_answer = notice.kind is NoticeKind.RECORDS_TO_SPECIALIST and audience is Audience.SPECIALIST
            asked = intake.questions if intake is not None and to_answer else []
            subject, body = self._render(notice, reader, portal, phone, asked)
            invite = self._invite(notice, reader, to, phone, sent_at)
            # One Message-ID per notice and audience: a resend is the same message.
            message_id = message_id_for(f"{notice.notice_id}/{audience.value}")
            try:
                await self.mailer.send(
                    self._message(to, subject, body, notice, message_id, reader.language, invite),
                    sender=self._sender,
                    recipients=[to],
                )
            except aiosmtplib.SMTPException as exc:
                if not permanent(exc):
                    raise  # 4xx, connection trouble: the retry policy handles it
                raise ApplicationError(
                    f"the mail server permanently rejected the {audience.value} message",
                    type="MailRejected",
                    non_retryable=True,
                ) from None
            # Recorded right after the server's 250: only a crash in between can resend,
            # and then with the same Message-ID, which the receiving side de-duplicates.
            # The last recipient's record also marks the notice sent (one transaction).
            last = i == len(pending) - 1
            await asyncio.to_thread(
                self._record, notice.notice_id, audience, message_id, sent_at if last else None
            )
            if last:
                break
        else:
            await asyncio.to_thread(self._record, notice.notice_id, None, "", sent_at)
        log.info("notice sent", notice_id=notice.notice_id, kind=notice.kind.value)
        metrics.notice(notice.kind, "sent")
        return NoticeResult(notice_id=notice.notice_id, sent_at=sent_at, already_sent=False)
