"""The portal's links and sessions in the case DB: random tokens whose sha256 is all it keeps.

A link is single-use, lives a few hours and carries nothing but 256 random bits; the
member proves who they are with their date of birth, checked against a keyed hash bound
to the case (a copy of the table reveals neither the token nor the date). Five wrong
dates lock the link. A session id is new at every sign-in and expires on its own. The
worker mints links for the notices it sends; the portal redeems them and keeps the sessions.
A request from the public form gets a confirmation link of the same kind (its own table,
one day, single use): it confirms that request and opens nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from sqlalchemy import Engine, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from models.case import CONFIRMATION_WINDOW
from models.db import table, values_of
from models.intake_tables import IntakeConfirmation
from models.portal_tables import MAX_DOB_ATTEMPTS, PortalLink, PortalSession
from models.settings import Settings
from models.vocabulary import Language

LINK_TTL = timedelta(hours=4)
SESSION_TTL = timedelta(hours=2)
ASSIGNMENT_TTL = timedelta(days=60)  # a long review; reassignment or closing ends it first
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", errors="replace")).hexdigest()


def _aware(value: datetime) -> datetime:
    # SQLite hands datetimes back without their zone; they were written in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


Row = TypeVar("Row", PortalLink, IntakeConfirmation)


class LinkState(StrEnum):
    OPEN = "open"
    UNKNOWN = "unknown"  # malformed, tampered with, or never issued: 404
    USED = "used"  # 410
    EXPIRED = "expired"  # 410
    LOCKED = "locked"  # 410


class DobOutcome(StrEnum):
    SIGNED_IN = "signed-in"
    WRONG = "wrong"
    LOCKED = "locked"


@dataclass(frozen=True, slots=True)
class LinkCheck:
    state: LinkState
    case_id: str | None = None
    attempts_left: int = 0
    language: Language | None = None  # a sign-in link's, from the email that carried it


def _ended(row: PortalLink | IntakeConfirmation, now: datetime | None) -> LinkCheck | None:
    """A used or expired link's state; None while it is open."""
    if row.used_at is not None:
        return LinkCheck(LinkState.USED, row.case_id)
    if _aware(row.expires_at) <= (now or datetime.now(UTC)):
        return LinkCheck(LinkState.EXPIRED, row.case_id)
    return None


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a session or a link: `member:<case id>` or `specialist:<id>` acts on that case
    only; `staff:<user>` (case `*`) reads the cases of the user's programs."""

    case_id: str
    actor: str


class PortalLinks:
    """The `portal_links` and `portal_sessions` tables (migration 0004)."""

    def __init__(
        self, engine: Engine, key: bytes, base_url: str = "", *, link_ttl: timedelta = LINK_TTL
    ) -> None:
        if not key:
            raise ValueError("the portal needs SMO_HASH_KEY to check dates of birth")
        self.engine = engine
        self.key = key
        self.base_url = base_url.rstrip("/")
        self.link_ttl = link_ttl

    @classmethod
    def from_settings(cls, engine: Engine, settings: Settings) -> PortalLinks:
        return cls(engine, settings.hash_key.get_secret_value().encode(), settings.base_url)

    def sign_in_url(self, case_id: str, dob: date, language: Language = Language.EN) -> tuple[str, datetime]:
        """What the member's email carries: the portal's sign-in address with a new token, and
        the member's language (`?lang=`), so the page opens in the language of the email."""
        token, expires = self.mint(case_id, dob, language=language)
        return f"{self.base_url}/portal/signin/{token}?lang={language.value}", expires

    def dob_hash(self, case_id: str, dob: date) -> str:
        material = f"portal-dob|{case_id}|{dob.isoformat()}".encode()
        return hmac.new(self.key, material, hashlib.sha256).hexdigest()

    # ---- a specialist's assignment page ------------------------------------------------

    def _assignment_mac(self, case_id: str, assignment_no: int, specialist_id: str, exp: int) -> str:
        material = f"portal-assignment|{case_id}|{assignment_no}|{specialist_id}|{exp}".encode()
        return hmac.new(self.key, material, hashlib.sha256).hexdigest()

    def assignment_url(
        self, case_id: str, assignment_no: int, specialist_id: str, now: datetime | None = None
    ) -> str:
        """Signed and bound to the case, the assignment and its specialist; the case ends it sooner."""
        exp = int(((now or datetime.now(UTC)) + ASSIGNMENT_TTL).timestamp())
        sig = self._assignment_mac(case_id, assignment_no, specialist_id, exp)
        return f"{self.base_url}/portal/assignments/{case_id}/{assignment_no}/{exp}/{sig}"

    def assignment_ok(self, case_id: str, assignment_no: int, specialist_id: str, exp: int, sig: str) -> bool:
        expected = self._assignment_mac(case_id, assignment_no, specialist_id, exp)
        return _same(expected, sig)

    # A provider's upload page (a request's number) and a translator's (the original's id):
    # each link names its task, checked against the live case on every use (web/portal/tasks.py).

    def _task_mac(self, kind: str, case_id: str, ref: str, exp: int) -> str:
        material = f"portal-task|{kind}|{case_id}|{ref}|{exp}".encode()
        return hmac.new(self.key, material, hashlib.sha256).hexdigest()

    def task_url(self, kind: str, case_id: str, ref: str, now: datetime | None = None) -> str:
        exp = int(((now or datetime.now(UTC)) + ASSIGNMENT_TTL).timestamp())
        return (
            f"{self.base_url}/portal/{kind}/{case_id}/{ref}/{exp}/{self._task_mac(kind, case_id, ref, exp)}"
        )

    def task_ok(self, kind: str, case_id: str, ref: str, exp: int, sig: str) -> bool:
        return _same(self._task_mac(kind, case_id, ref, exp), sig)

    # ---- links --------------------------------------------------------------------------

    def mint(
        self, case_id: str, dob: date, now: datetime | None = None, language: Language | None = None
    ) -> tuple[str, datetime]:
        """A new sign-in token for the case (shown once, in the email) and when it expires."""
        now = now or datetime.now(UTC)
        token = secrets.token_urlsafe(32)
        expires = now + self.link_ttl
        link = PortalLink(
            token_hash=sha256(token),
            case_id=case_id,
            dob_hash=self.dob_hash(case_id, dob),
            created_at=now,
            expires_at=expires,
            language=language.value if language else None,
        )
        with self.engine.begin() as conn:  # Core: the worker mints one with every member notice
            conn.execute(insert(table(PortalLink)), values_of(link))
        return token, expires

    def _row(self, model: type[Row], token: str) -> Row | None:
        """The row of a well-formed token, or None (malformed, tampered with, never issued)."""
        if not TOKEN_RE.fullmatch(token):
            return None
        with Session(self.engine) as session:
            return session.get(model, sha256(token))

    def check(self, token: str, now: datetime | None = None) -> LinkCheck:
        link = self._row(PortalLink, token)
        if link is None:
            return LinkCheck(LinkState.UNKNOWN)
        if link.locked_at is not None:
            return LinkCheck(LinkState.LOCKED, link.case_id)
        left = MAX_DOB_ATTEMPTS - link.failed_attempts
        language = Language(link.language) if link.language in {lang.value for lang in Language} else None
        return _ended(link, now) or LinkCheck(LinkState.OPEN, link.case_id, left, language)

    def redeem(self, token: str, dob: date, now: datetime | None = None) -> tuple[DobOutcome, LinkCheck]:
        """Compare the date of birth; on a match the link is spent (single use)."""
        now = now or datetime.now(UTC)
        state = self.check(token, now)
        if state.state is not LinkState.OPEN:
            return DobOutcome.LOCKED, state
        with Session(self.engine) as session:
            # A row lock on PostgreSQL: two racing attempts cannot both use the link.
            link = session.exec(
                select(PortalLink).where(PortalLink.token_hash == sha256(token)).with_for_update()
            ).one()
            if link.used_at is not None or link.locked_at is not None:
                return DobOutcome.LOCKED, LinkCheck(LinkState.USED, link.case_id)
            if hmac.compare_digest(link.dob_hash, self.dob_hash(link.case_id, dob)):
                link.used_at = now
                outcome = DobOutcome.SIGNED_IN
            else:
                link.failed_attempts += 1
                outcome = DobOutcome.WRONG
                if link.failed_attempts >= MAX_DOB_ATTEMPTS:
                    link.locked_at = now
                    outcome = DobOutcome.LOCKED
            session.add(link)
            session.commit()
            left = MAX_DOB_ATTEMPTS - link.failed_attempts
            return outcome, LinkCheck(LinkState.OPEN, link.case_id, left)

    # ---- a request's confirmation link ----------------------------------------------------

    def confirmation_url(
        self, case_id: str, language: Language = Language.EN, now: datetime | None = None
    ) -> tuple[str, datetime]:
        """What a request's confirmation email carries: a new single-use token, good for a day,
        and the language of the form (`?lang=`), so even its refusal pages speak it."""
        now = now or datetime.now(UTC)
        token = secrets.token_urlsafe(32)
        expires = now + CONFIRMATION_WINDOW
        row = IntakeConfirmation(
            token_hash=sha256(token), case_id=case_id, created_at=now, expires_at=expires
        )
        with self.engine.begin() as conn:
            conn.execute(insert(table(IntakeConfirmation)), values_of(row))
        return f"{self.base_url}/portal/confirm/{token}?lang={language.value}", expires

    def check_confirmation(self, token: str, now: datetime | None = None) -> LinkCheck:
        """The link's state and its case; it confirms that case and nothing else."""
        row = self._row(IntakeConfirmation, token)
        if row is None:
            return LinkCheck(LinkState.UNKNOWN)
        return _ended(row, now) or LinkCheck(LinkState.OPEN, row.case_id)

    def spend_confirmation(self, token: str, now: datetime | None = None) -> None:
        """Mark the link used (after the case took the confirmation), with every other link of the case."""
        now = now or datetime.now(UTC)
        confirmations = table(IntakeConfirmation)
        with Session(self.engine) as session:
            row = session.get(IntakeConfirmation, sha256(token))
            if row is None:
                return
            session.execute(
                update(confirmations)
                .where(confirmations.c.case_id == row.case_id, confirmations.c.used_at.is_(None))
                .values(used_at=now)
            )
            session.commit()

    # ---- sessions -----------------------------------------------------------------------

    def start_session(
        self, case_id: str, actor: str, replaces: str | None = None, now: datetime | None = None
    ) -> tuple[str, datetime]:
        """A fresh session id (rotated: the one the browser held before is revoked)."""
        now = now or datetime.now(UTC)
        sid = secrets.token_urlsafe(32)
        expires = now + SESSION_TTL
        with Session(self.engine) as session:
            if replaces:
                old = session.get(PortalSession, sha256(replaces))
                if old is not None and old.revoked_at is None:
                    old.revoked_at = now
                    session.add(old)
            session.add(
                PortalSession(
                    sid_hash=sha256(sid), case_id=case_id, actor=actor, created_at=now, expires_at=expires
                )
            )
            session.commit()
        return sid, expires

    def session(self, sid: str, now: datetime | None = None) -> Holder | None:
        if not TOKEN_RE.fullmatch(sid):
            return None
        now = now or datetime.now(UTC)
        # Core, not the ORM: every page a member opens asks this first.
        sessions = table(PortalSession)
        columns = (sessions.c.case_id, sessions.c.actor, sessions.c.expires_at, sessions.c.revoked_at)
        with self.engine.connect() as conn:
            row = conn.execute(sa_select(*columns).where(sessions.c.sid_hash == sha256(sid))).first()
        if row is None or row.revoked_at is not None or _aware(row.expires_at) <= now:
            return None
        return Holder(case_id=row.case_id, actor=row.actor)

    def end_session(self, sid: str, now: datetime | None = None) -> None:
        with Session(self.engine) as session:
            row = session.get(PortalSession, sha256(sid))
            if row is not None and row.revoked_at is None:
                row.revoked_at = now or datetime.now(UTC)
                session.add(row)
                session.commit()

    def csrf_token(self, binding: str) -> str:
        """A form token bound to the session (or, before sign-in, to the link)."""
        return hmac.new(self.key, f"portal-csrf|{sha256(binding)}".encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, binding: str, presented: str) -> bool:
        return bool(presented) and _same(self.csrf_token(binding), presented)


def _same(expected: str, presented: str) -> bool:
    """A constant-time comparison that also takes what a browser may send: any text at all.

    `hmac.compare_digest` refuses a str with non-ASCII characters (TypeError), so both sides are
    compared as UTF-8 bytes.
    """
    return hmac.compare_digest(expected.encode(), presented.encode("utf-8", errors="replace"))
