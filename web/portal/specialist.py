"""A specialist's assignment page, reached from the records email: the case, records, report, decline.

The link is signed and bound to the case, the assignment number and its specialist. It
works only while that assignment is the case's active one: a reassignment or the case's
end (the roster and the case DB mark the assignment released) makes it answer 410.
Every action is the same workflow update the API sends, audited as `specialist:<id>`.
The page shows the case as the specialist needs it (web.portal.case_sheet), in English.

The booked consult is moved, cancelled and told how it went through the case service, as
from the API (`service.reschedule_consult`, `cancel_consult`, `complete_consult`), on the link's
own case only: each form names the consult's number, so a page read before a move changes
nothing; a move or a cancel only while the consult is more than the notice away, its outcome
only once it has started.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel
from sqlmodel import Session, select

import service
from models.case import CaseStatus, Decline, RecordType, RequestInfo, Stage, SubmitReport, UpdateAck
from models.consult import ConsultOutcome
from models.db import Assignment, DocumentRow
from models.opinion import Opinion
from models.portal import DeclineForm, InfoForm
from models.vocabulary import InfoReason
from runtime.portal_links import Holder
from security.links import Right
from web.errors import WebError
from web.links import ASK_THE_DESK, CASE_ID, right_gone, specialist_sees_names
from web.opinion_form import read_opinion
from web.portal.base import Portal, act, audit, check_csrf, download, form_text, parse_form, portal_of
from web.portal.case_sheet import read_sheet
from web.portal.english import english
from web.portal.follow_up_form import follow_up_answer
from web.portal.opinion_view import opinion_view
from web.portal.pages import render
from web.portal.slot_picker import ConsultWords, consult_action, number_from, slot_from
from web.uploads import PAGES, MultipartForm
from workflows.smo_case import SmoCaseWorkflow

ASSIGNMENT_NO = re.compile(r"[0-9]{1,5}")
EXPIRY = re.compile(r"[0-9]{1,11}")
ENDED = "This assignment has ended (the case was reassigned or closed). Thank you."
STALE = "The consult has changed since this page was read. Reload the page."
NOT_STARTED = "The consult has not started yet: tell how it went once it has."
TOO_LATE = "The consult is less than the notice away and can no longer be changed here. Please ask the desk."
UNCHOSEN = "Choose one of the times on the page."
# The case service's refusals in the specialist's words (the case's own: its validator's).
WORDS = ConsultWords(TOO_LATE, "This time cannot be used: %(reason)s. Choose another time.")
# The outcomes the specialist tells: a consult held, or the member absent.
OUTCOMES = {
    ConsultOutcome.DONE.value: ConsultOutcome.DONE,
    ConsultOutcome.MEMBER_ABSENT.value: ConsultOutcome.MEMBER_ABSENT,
}


@dataclass(frozen=True, slots=True)
class Visit:
    """One verified visit to an assignment page."""

    portal: Portal
    who: Holder
    specialist_id: str
    assignment_no: int
    base: str  # the page's own path (it carries the signature)
    sig: str
    status: CaseStatus

    @property
    def csrf(self) -> str:
        return self.portal.links.csrf_token("assignment:" + self.sig)

    def check_csrf(self, presented: str) -> None:
        check_csrf(self.portal, "assignment:" + self.sig, presented)


def _now() -> datetime:
    """The portal's clock: whether a consult has started is the wall clock's question."""
    return datetime.now(UTC)


async def _visit(request: web.Request) -> Visit:
    portal = portal_of(request)
    info = request.match_info
    case_id, n_text, exp_text, sig = info["case_id"], info["n"], info["exp"], info["sig"]
    # ASCII digits only: `"²".isdigit()` is true, and int() refuses it.
    if not (ASSIGNMENT_NO.fullmatch(n_text) and EXPIRY.fullmatch(exp_text)):
        raise WebError(404, "This link is not valid.")
    n, exp = int(n_text), int(exp_text)

    def row() -> Assignment | None:
        with Session(portal.backends.engine) as session:
            query = select(Assignment).where(Assignment.case_id == case_id, Assignment.assignment_no == n)
            return session.exec(query).first()

    assignment = await asyncio.to_thread(row)
    if assignment is None or not portal.links.assignment_ok(case_id, n, assignment.specialist_id, exp, sig):
        raise WebError(404, "This link is not valid.")
    if exp <= datetime.now(UTC).timestamp():
        raise WebError(410, "This link has expired. Ask the desk for a new one.")
    if assignment.status != "active":
        raise WebError(410, ENDED)
    status = await portal.backends.case_status(case_id)
    if status.stage.terminal or status.specialist_id != assignment.specialist_id:
        raise WebError(410, ENDED)
    who = Holder(case_id=case_id, actor=f"specialist:{assignment.specialist_id}")
    base = f"/portal/assignments/{case_id}/{n}/{exp}/{sig}"
    return Visit(portal, who, assignment.specialist_id, n, base, sig, status)


def _records(portal: Portal, case_id: str) -> list[DocumentRow]:
    with Session(portal.backends.engine) as session:
        query = select(DocumentRow).where(
            DocumentRow.case_id == case_id,
            DocumentRow.record_type.not_in([RecordType.SMO_REPORT.value, RecordType.CONSENT.value]),  # type: ignore[attr-defined]
        )
        return list(session.exec(query))


# The pages of this module, each declared on its handler.
routes = web.RouteTableDef()


@routes.get("/assignments/{case_id}/{n}/{exp}/{sig}")
@english
async def page(request: web.Request) -> web.StreamResponse:
    visit = await _visit(request)
    records, sheet, opinion = await asyncio.gather(
        asyncio.to_thread(_records, visit.portal, visit.who.case_id),
        read_sheet(visit.portal, visit.status, visit.specialist_id, _now()),
        opinion_view(visit.portal, visit.status),
    )
    # The treating doctor's plan is what the opinion answers: the page lists it apart, first.
    plan = RecordType.TREATMENT_PLAN.value
    return render(
        "assignment.html",
        visit=visit,
        sheet=sheet,
        plans=[r for r in records if r.record_type == plan],
        records=[r for r in records if r.record_type != plan],
        reasons=list(InfoReason),
        done=request.query.get("done", ""),
        paused=visit.status.sla.state.value == "PAUSED",
        reviewing=visit.status.stage is Stage.UNDER_REVIEW,
        follow_ups=opinion.follow_ups,
        desk=visit.portal.desk,
    )


@routes.get("/assignments/{case_id}/{n}/{exp}/{sig}/records/{doc_id}")
@english
async def download_record(request: web.Request) -> web.StreamResponse:
    """One record, while the assignment's right holds (the same check as the emailed links').

    Every refusal is audited too: under the specialist once the link is known to be theirs,
    under `link` before that.
    """
    portal, case_id = portal_of(request), request.match_info["case_id"]
    doc_id = request.match_info["doc_id"]
    action = "portal.record_download"
    try:
        visit = await _visit(request)
    except WebError as refused:
        # A forged link's case id is not written to the trail.
        known = case_id if CASE_ID.fullmatch(case_id) else None
        await audit(portal, "link", action, f"refused-{refused.status}", known)
        raise
    records = await asyncio.to_thread(_records, portal, case_id)
    if doc_id not in {r.doc_id for r in records}:
        await audit(portal, visit.who.actor, action, "unknown-document", case_id)
        raise WebError(404, "There is no such document.")
    right = Right.assignment(visit.assignment_no, visit.specialist_id)
    why = await right_gone(portal.backends, case_id, right, visit.status)
    if why is not None:
        await audit(portal, visit.who.actor, action, "right-gone", case_id, why)
        raise WebError(410, f"This assignment no longer opens the records: {why}. {ASK_THE_DESK}")
    filename = f"{case_id}-{doc_id[:8]}"
    # What the member named a file may hold their name: shown only where the program says so.
    named = specialist_sees_names(portal.backends, visit.status.program)
    return await download(request, portal, visit.who, action, doc_id, filename, stored_name=named)


@routes.post("/assignments/{case_id}/{n}/{exp}/{sig}/report")
@english
async def submit_report(request: web.Request) -> web.StreamResponse:
    """csrf, then the opinion for the member (summary, an answer per question, the outcome),
    then the report file: checked in that order, the report stored last."""
    visit = await _visit(request)
    form = await MultipartForm.of(request, PAGES)
    visit.check_csrf(await form.field("csrf"))
    store = visit.portal.backends.store
    opinion_part = await read_opinion(form)
    claims, translate_to = [], None
    if opinion_part is not None:
        translate_to = await service.summary_language(store, visit.status)  # the member's language
        sheet = opinion_part[0]
        claims.append(
            await asyncio.to_thread(store.put_bytes, sheet.model_dump_json().encode(), visit.who.case_id)
        )
    try:
        claims += await form.store_files(
            store,
            case_id=visit.who.case_id,
            most=1,
            too_many="Upload the report as one file.",
            least=1,
            too_few="Choose the report file to upload.",
        )
    except WebError:
        await service.discard(store, claims)
        raise
    report = service.refs(claims[-1:], RecordType.SMO_REPORT)[0]
    opinion = None
    if opinion_part is not None:
        opinion = Opinion(
            sheet_doc_id=claims[0].doc_id,
            answers=len(opinion_part[0].answers),
            outcome=opinion_part[1],
            translate_to=translate_to,
        )
    arg = SubmitReport(
        document=report, specialist_id=visit.specialist_id, by=visit.who.actor, opinion=opinion
    )
    await act(visit.portal, visit.who, SmoCaseWorkflow.submit_report, arg, "report.submit", claims=claims)
    return render(
        "error.html", 200, title="Report received", message="Thank you: the report is with the case."
    )


@routes.post("/assignments/{case_id}/{n}/{exp}/{sig}/follow-ups/{k}")
@english
async def answer_follow_up(request: web.Request) -> web.StreamResponse:
    """The specialist's answer to follow-up question k (stored encrypted, then sent to the case)."""
    visit = await _visit(request)
    form = await request.post()
    visit.check_csrf(str(form.get("csrf", "")))
    k = request.match_info["k"]
    if not (k.isascii() and k.isdigit() and len(k) < 3):
        raise WebError(404, "There is no such question.")
    await follow_up_answer(visit.portal, visit.who, int(k), str(form.get("text", "")))
    raise web.HTTPSeeOther(f"{visit.base}?done=answered")


async def _form(request: web.Request, model: type[BaseModel]) -> tuple[Visit, BaseModel]:
    visit = await _visit(request)
    form = await request.post()
    visit.check_csrf(str(form.get("csrf", "")))
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return visit, parse_form(model.model_validate, fields)


@routes.post("/assignments/{case_id}/{n}/{exp}/{sig}/info")
@english
async def request_info(request: web.Request) -> web.StreamResponse:
    visit, form = await _form(request, InfoForm)
    assert isinstance(form, InfoForm)
    arg = RequestInfo(reason=form.reason, by=visit.who.actor)
    await act(visit.portal, visit.who, SmoCaseWorkflow.request_more_info, arg, "info.request")
    raise web.HTTPSeeOther(f"{visit.base}?done=info")


@routes.post("/assignments/{case_id}/{n}/{exp}/{sig}/decline")
@english
async def decline(request: web.Request) -> web.StreamResponse:
    visit, form = await _form(request, DeclineForm)
    assert isinstance(form, DeclineForm)
    arg = Decline(specialist_id=visit.specialist_id, reason=form.reason, by=visit.who.actor)
    await act(visit.portal, visit.who, SmoCaseWorkflow.decline, arg, "specialist.decline")
    return render(
        "error.html", 200, title="Declined", message="Thank you: the case goes to another specialist."
    )


async def _consult_form(request: web.Request, action: str) -> tuple[Visit, MultiDictProxy[Any], int]:
    """A consult form of the link's own case: the CSRF token, then the number of the consult
    the page showed, which must still be the booked one (a refusal is audited)."""
    visit = await _visit(request)
    form = await request.post()
    visit.check_csrf(form_text(form, "csrf"))
    number = number_from(form, STALE)
    status = visit.status
    if not status.consult_pending or number != status.consult_number:
        detail = f"consult #{number}, booked #{status.consult_number if status.consult_pending else 'none'}"
        await audit(visit.portal, visit.who.actor, action, "refused", visit.who.case_id, detail)
        raise WebError(409, STALE)
    return visit, form, number


async def _ask(
    visit: Visit, action: str, call: Awaitable[UpdateAck | None], slot: datetime | None = None
) -> None:
    """One consult action through the case service; a conflict it finds first is audited here."""

    async def conflict(detail: str) -> NoReturn:
        await audit(visit.portal, visit.who.actor, action, "refused", visit.who.case_id, detail)
        raise WebError(409, STALE)

    await consult_action(call, action, slot, WORDS, conflict)


@routes.post("/assignments/{case_id}/{n}/{exp}/{sig}/consult/move")
@english
async def move_consult(request: web.Request) -> web.StreamResponse:
    action = "consult.reschedule"
    visit, form, number = await _consult_form(request, action)
    slot = slot_from(form, UNCHOSEN)
    case_id, actor, backends = visit.who.case_id, visit.who.actor, visit.portal.backends
    call = service.reschedule_consult(
        await backends.client(), backends.engine, backends.settings, case_id, number, slot, actor, action
    )
    await _ask(visit, action, call, slot)
    raise web.HTTPSeeOther(f"{visit.base}?done=moved")


@routes.post("/assignments/{case_id}/{n}/{exp}/{sig}/consult/cancel")
@english
async def cancel_consult(request: web.Request) -> web.StreamResponse:
    action = "consult.cancel"
    visit, _, number = await _consult_form(request, action)
    case_id, actor, backends = visit.who.case_id, visit.who.actor, visit.portal.backends
    call = service.cancel_consult(
        await backends.client(), backends.engine, backends.settings, case_id, number, actor
    )
    await _ask(visit, action, call)
    raise web.HTTPSeeOther(f"{visit.base}?done=cancelled")


@routes.post("/assignments/{case_id}/{n}/{exp}/{sig}/consult/outcome")
@english
async def consult_outcome(request: web.Request) -> web.StreamResponse:
    """How the consult went, once it has started: held, or the member absent."""
    action = "consult.complete"
    visit, form, _ = await _consult_form(request, action)
    outcome = OUTCOMES.get(form_text(form, "outcome"))
    if outcome is None:
        raise WebError(422, "Choose one of the outcomes on the page.")
    at = visit.status.consult_at
    if at is not None and at > _now():
        await audit(visit.portal, visit.who.actor, action, "refused", visit.who.case_id, "not started")
        raise WebError(409, NOT_STARTED)
    case_id, actor, backends = visit.who.case_id, visit.who.actor, visit.portal.backends
    call = service.complete_consult(
        await backends.client(), backends.engine, case_id, actor, action, outcome=outcome
    )
    await _ask(visit, action, call)
    raise web.HTTPSeeOther(f"{visit.base}?done={outcome.value}")
