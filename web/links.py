"""Document links (`/reports/{case}/{doc}?for=…&exp=…&sig=…`): the signature, then the right, on every use.

The records email carries one link per record, bound to the specialist's assignment; the
report email carries the member's. A link names its right and is signed over it
(`security.links`), and the signature only proves that we issued it: every download checks
again that the right still holds on the live case. Order of the checks:

1. the signature (403) and the expiry (410); a genuine link from before links named a right
   opens nothing (410, with what to do next);
2. the document is one the right covers (404): a member's link opens the case's reports, an
   assignment's link the case's records (never the report or the consent form);
3. the right holds (410, with what to do next): for an assignment, the case DB's row of that
   assignment is active and the specialist's, the case is neither closed nor cancelled, and the
   case's own status (a query to our Temporal server, as the portal pages ask it) names the same
   specialist and shows the member's consent where the case needs it. The member keeps their
   report whatever the stage: a closed case's report stays theirs.

Every download and every refusal is on the audit trail (actor `link`, action
`document.download`, the outcome, the right; never a name or a diagnosis). A document is
saved under the name it came with for this case (runtime/web.py), except by a specialist
where the case's program hides the member's name (`Program.specialist_sees_name`): a file's
name may hold it. The refusal pages are in English for a specialist's link and in the
reader's language (`?lang=`, else the browser's) for the member's.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy import Engine
from sqlmodel import Session, select

import service
from models.case import CASE_ID_PATTERN, CaseStatus, RecordType, Stage
from models.db import Assignment, CaseRow, DocumentRow
from models.retention_tables import CaseErasureRow
from runtime import db, i18n
from runtime.i18n import N_, Language, gettext
from runtime.web import stream_document
from security.links import LinkExpired, LinkInvalid, LinkSigner, LinkWithoutRight, Right, RightHolder
from web.backends import Backends
from web.portal.language import chosen
from web.portal.pages import render

_log = logging.getLogger(__name__)
CASE_ID = re.compile(CASE_ID_PATTERN)

ACTION = "document.download"
# What a specialist's right never opens: the report is the member's, the consent form the desk's.
NOT_RECORDS = frozenset({RecordType.SMO_REPORT.value, RecordType.CONSENT.value})

# What the holder of a dead link can do next.
ASK_THE_DESK = N_("If you still need it, please ask the SMO desk.")
# The case's documents were erased (on request, or when the time to keep them ended).
ERASED = N_(
    "The documents of this case were erased, as asked or when the time to keep them ended. The desk"
    " can tell you more."
)
SIGN_IN_AGAIN = N_(
    "Sign in to your case page with the newest sign-in link we emailed you (or ask us for a new"
    " one): your report is there, with a fresh download link."
)
EITHER = N_(
    "If this link came with your report, sign in to your case page with the newest sign-in link"
    " we emailed you: your report is there. If you are a specialist, please ask the SMO desk."
)


class Refused(Exception):
    """A download refused: the page's status and words, and the outcome the audit records."""

    def __init__(self, status: int, outcome: str, title: str, message: str, why: str = "") -> None:
        super().__init__(outcome)
        self.status, self.outcome, self.title, self.message, self.why = status, outcome, title, message, why


def next_step(right: Right | None) -> str:
    """What the holder can do next, in the page's language."""
    if right is None:
        return gettext(EITHER)
    return gettext(SIGN_IN_AGAIN if right.holder is RightHolder.MEMBER else ASK_THE_DESK)


def gone(right: Right | None, why: str, outcome: str = "right-gone") -> Refused:
    if right is not None and right.holder is RightHolder.MEMBER:
        what = gettext("This link no longer opens the report.")
    else:
        what = gettext("This link no longer opens the document.")
    title = gettext("This link no longer works")
    return Refused(410, outcome, title, f"{what} {next_step(right)}", why)


def _language(request: web.Request) -> Language:
    """A specialist's link reads in English; the member's in their choice, else their browser's."""
    if request.query.get("for") == RightHolder.ASSIGNMENT.value:
        return Language.EN
    return chosen(request) or i18n.negotiate(request.headers.get("Accept-Language", ""))


def covers(right: Right, record_type: str) -> bool:
    """Whether a document of this type is one the right may open at all."""
    if right.holder is RightHolder.MEMBER:
        return record_type == RecordType.SMO_REPORT.value
    return record_type not in NOT_RECORDS


@dataclass(frozen=True, slots=True)
class _Facts:
    """What the case DB says, in one session: the document's type, the case, the assignment."""

    record_type: str | None
    case_ended: bool
    erased: bool  # the case's documents were erased (on request, or when kept long enough)
    assignment: Assignment | None
    program: str | None  # the case's, None for a case the DB does not hold


def _facts(engine: Engine, case_id: str, doc_id: str | None, right: Right) -> _Facts:
    with Session(engine) as session:
        doc = session.get(DocumentRow, (case_id, doc_id)) if doc_id is not None else None
        case = session.get(CaseRow, case_id)
        erased = session.get(CaseErasureRow, case_id) is not None
        assignment = None
        if right.holder is RightHolder.ASSIGNMENT:
            assignment = session.exec(
                select(Assignment).where(
                    Assignment.case_id == case_id, Assignment.assignment_no == right.assignment_no
                )
            ).first()
    ended = case is not None and (case.closed_at is not None or Stage(case.stage).terminal)
    program = case.program if case is not None else None
    return _Facts(doc.record_type if doc else None, ended, erased, assignment, program)


def specialist_sees_names(backends: Backends, program: str | None) -> bool:
    """Whether a specialist may see what the member named their files: only where the case's
    program requires the member's name (an unknown program hides it)."""
    known = backends.programs.get(program) if program is not None else None
    return known is not None and known.specialist_sees_name


async def right_gone(
    backends: Backends, case_id: str, right: Right, status: CaseStatus | None = None
) -> str | None:
    """Why `right` no longer holds on the live case, or None while it does.

    `status` is the case's status when the caller has just asked it (the assignment page).
    A case that does not answer raises `Refused` (503): a right that cannot be checked opens
    nothing.
    """
    if right.holder is RightHolder.MEMBER:
        return None  # the member's report stays theirs, after close too
    facts = await asyncio.to_thread(_facts, backends.engine, case_id, None, right)
    return await _assignment_gone(backends, case_id, right, facts, status)


async def _assignment_gone(
    backends: Backends, case_id: str, right: Right, facts: _Facts, status: CaseStatus | None
) -> str | None:
    # The case DB first: it answers for a closed case without waking its workflow.
    row = facts.assignment
    if facts.case_ended:
        return "the case has ended"
    if row is None or row.status != "active" or row.specialist_id != right.specialist_id:
        return "the assignment has ended"
    if status is None:
        try:
            status = await backends.case_status(case_id)
        except service.NoCase:
            return "the case has ended"
        except Exception as exc:  # the right cannot be checked: refuse, and say to try again
            _log.warning("document link: the case's status is unavailable (%s)", type(exc).__name__)
            raise Refused(
                503,
                "unavailable",
                gettext("Please try again later"),
                gettext("We could not check this link just now. Please try again in a few minutes."),
            ) from None
    if status.stage.terminal:
        return "the case has ended"
    # A decline ends the round at once; the roster row ends when the next specialist is chosen.
    if status.specialist_id != right.specialist_id:
        return "the assignment has ended"
    consent = status.consent
    # Needed and not given, or given and withdrawn (where a deployment needs none, a withdrawal
    # still stops the records).
    if not consent.given and (consent.required or consent.withdrawn_at is not None):
        return "the member's consent is not given"
    return None


@dataclass(frozen=True)
class DocumentLinks:
    backends: Backends
    signer: LinkSigner

    async def _check(self, request: web.Request, case_id: str, doc_id: str) -> tuple[Right, _Facts]:
        """The link's right (and what the case DB says) once every check has passed; `Refused`
        says which failed."""
        query = request.query
        right: Right | None = None
        try:
            right = Right.from_query(query)
            self.signer.verify(
                case_id, doc_id, right, query.get("exp", ""), query.get("sig", ""), now=datetime.now(UTC)
            )
        except LinkInvalid:
            title = gettext("This link is not valid")
            message = gettext("This link is not valid. Please open it exactly as it came in the email.")
            raise Refused(403, "bad-signature", title, message) from None
        except LinkExpired:
            title = gettext("This link has expired")
            expired = gettext("This link has expired.")
            message = f"{expired} {next_step(right)}"
            raise Refused(410, "expired", title, message, str(right or "")) from None
        except LinkWithoutRight:
            raise gone(None, "the link names no right (issued before links did)", "no-right") from None
        assert right is not None
        facts = await asyncio.to_thread(_facts, self.backends.engine, case_id, doc_id, right)
        if facts.erased:
            title, message = gettext("The documents were erased"), gettext(ERASED)
            raise Refused(410, "erased", title, message, str(right))
        if facts.record_type is None or not covers(right, facts.record_type):
            title, message = gettext("No such document"), gettext("There is no such document.")
            raise Refused(404, "unknown-document", title, message, str(right))
        if right.holder is RightHolder.ASSIGNMENT:
            why = await _assignment_gone(self.backends, case_id, right, facts, None)
            if why is not None:
                raise gone(right, f"{right}: {why}")
        return right, facts

    async def download(self, request: web.Request) -> web.StreamResponse:
        i18n.use(_language(request))
        case_id, doc_id = request.match_info["case_id"], request.match_info["doc_id"]
        # A case id that is not one (a forged link's) is not written to the trail.
        audited_case = case_id if CASE_ID.fullmatch(case_id) else None

        async def audit(outcome: str, detail: str) -> None:
            await db.audit_off_loop(
                self.backends.engine,
                actor="link",
                action=ACTION,
                outcome=outcome,
                case_id=audited_case,
                detail=detail,
            )

        try:
            right, facts = await self._check(request, case_id, doc_id)
        except Refused as refused:
            await audit(refused.outcome, refused.why)
            return render("error.html", refused.status, title=refused.title, message=refused.message)

        async def served(outcome: str) -> None:
            # A served document is named on the trail (the first 12 hex of its sha256).
            await audit(outcome, f"{doc_id[:12]} for {right}")

        # The document's own name when it came with one for this case and the holder may see
        # it; this one (with the stored type's extension) otherwise.
        filename = f"{case_id}-{doc_id[:12]}"
        member = right.holder is RightHolder.MEMBER
        named = member or specialist_sees_names(self.backends, facts.program)
        store = self.backends.store
        return await stream_document(
            request, store, doc_id, filename, case_id=case_id, stored_name=named, outcome=served
        )


def add_document_links(app: web.Application, backends: Backends, signer: LinkSigner) -> None:
    """Mount `/reports/{case}/{doc}` on the service's web application (where the emails point)."""
    app.router.add_get("/reports/{case_id}/{doc_id}", DocumentLinks(backends, signer).download)
