"""A specialist's assignment page, reached from the records email: records, report, questions, decline.

The link is signed and bound to the case, the assignment number and its specialist. It
works only while that assignment is the case's active one: a reassignment or the case's
end (the roster and the case DB mark the assignment released) makes it answer 410.
Every action is the same workflow update the API sends, audited as `specialist:<id>`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import BodyPartReader, web
from pydantic import BaseModel, ValidationError
from sqlmodel import Session, select

from models.case import (
    CaseStatus,
    Decline,
    DocumentRef,
    RecordType,
    RequestInfo,
    Stage,
    SubmitReport,
)
from models.db import Assignment, DocumentRow
from models.portal import DeclineForm, InfoForm
from models.vocabulary import InfoReason
from runtime.db import audit
from starter import ops
from web.errors import validation_message
from web.portal import member
from web.portal.base import PORTAL, PageError
from web.portal.links import Member
from web.portal.pages import render
from web.uploads import UploadRefused, check_file_name, store_stream
from workflows.smo_case import SmoCaseWorkflow

ENDED = "This assignment has ended (the case was reassigned or closed). Thank you."


@dataclass(frozen=True, slots=True)
class Desk:
    """One verified visit to an assignment page."""

    who: Member
    specialist_id: str
    assignment_no: int
    base: str  # the page's own path (it carries the signature)
    csrf: str
    status: CaseStatus


async def _desk(request: web.Request) -> Desk:

    portal = request.app[PORTAL]
    info = request.match_info
    case_id, n_text, exp_text, sig = info["case_id"], info["n"], info["exp"], info["sig"]
    if not (n_text.isdigit() and exp_text.isdigit() and len(n_text) < 6 and len(exp_text) < 12):
        raise PageError(404, "This link is not valid.")
    n, exp = int(n_text), int(exp_text)

    def row() -> Assignment | None:
        with Session(portal.api.engine) as session:
            query = select(Assignment).where(Assignment.case_id == case_id, Assignment.assignment_no == n)
            return session.exec(query).first()

    assignment = await asyncio.to_thread(row)
    if assignment is None or not portal.links.assignment_ok(case_id, n, assignment.specialist_id, exp, sig):
        raise PageError(404, "This link is not valid.")
    if exp <= datetime.now(UTC).timestamp():
        raise PageError(410, "This link has expired. Ask the desk for a new one.")
    if assignment.status != "active":
        raise PageError(410, ENDED)
    status = await ops.status(await portal.api.client(), case_id)
    if status.stage.terminal or status.specialist_id != assignment.specialist_id:
        raise PageError(410, ENDED)
    who = Member(case_id=case_id, actor=f"specialist:{assignment.specialist_id}")
    base = f"/portal/assignments/{case_id}/{n}/{exp}/{sig}"
    return Desk(who, assignment.specialist_id, n, base, portal.links.csrf_token("assignment:" + sig), status)


def _check_csrf(desk: Desk, presented: str) -> None:

    if not presented or presented != desk.csrf:
        raise PageError(403, "This form has expired. Reload the page and try again.")


def _records(request: web.Request, case_id: str) -> list[DocumentRow]:

    with Session(request.app[PORTAL].api.engine) as session:
        query = select(DocumentRow).where(
            DocumentRow.case_id == case_id,
            DocumentRow.record_type.not_in([RecordType.SMO_REPORT.value, RecordType.CONSENT.value]),  # type: ignore[attr-defined]
        )
        return list(session.exec(query))


async def page(request: web.Request) -> web.StreamResponse:
    desk = await _desk(request)
    records = await asyncio.to_thread(_records, request, desk.who.case_id)
    return render(
        "assignment.html",
        desk=desk,
        records=records,
        reasons=list(InfoReason),
        done=request.query.get("done", ""),
        paused=desk.status.sla.state.value == "PAUSED",
        reviewing=desk.status.stage is Stage.UNDER_REVIEW,
    )


async def download_record(request: web.Request) -> web.StreamResponse:

    desk = await _desk(request)
    doc_id = request.match_info["doc_id"]
    records = await asyncio.to_thread(_records, request, desk.who.case_id)
    if doc_id not in {r.doc_id for r in records}:
        raise PageError(404, "There is no such document.")
    consent = desk.status.consent
    if consent.required and not consent.given:
        raise PageError(
            403, "The member has withdrawn consent to send their records; the desk will be in touch."
        )
    services = request.app[PORTAL].api
    await asyncio.to_thread(
        audit, services.engine, actor=desk.who.actor, action="portal.record_download",
        outcome="served", case_id=desk.who.case_id, detail=doc_id[:12],
    )  # fmt: skip
    return await member.stream_document(request, services.store, doc_id, f"{desk.who.case_id}-{doc_id[:8]}")


async def submit_report(request: web.Request) -> web.StreamResponse:

    desk = await _desk(request)
    services = request.app[PORTAL].api
    reader = await request.multipart()
    _check_csrf(desk, await member.read_field(reader, "csrf"))
    part = await reader.next()
    if not isinstance(part, BodyPartReader) or part.name != "file" or not part.filename:
        raise member.Refused(422, "Choose the report file to upload.")
    try:
        check_file_name(part.filename)
    except UploadRefused as exc:
        raise member.Refused(422, f"That file name cannot be used: {exc}.") from None
    stored = await store_stream(services.store, part)
    ref = DocumentRef(doc_id=stored.doc_id, record_type=RecordType.SMO_REPORT, size=stored.size)
    arg = SubmitReport(document=ref, specialist_id=desk.specialist_id, by=desk.who.actor)
    try:
        await member.act(services, desk.who, SmoCaseWorkflow.submit_report, arg, "report.submit")
    except member.Refused as exc:
        if exc.status != 503:
            await member.discard(services.store, [stored])
        raise
    return render(
        "error.html", 200, title="Report received", message="Thank you: the report is with the case."
    )


async def _form(request: web.Request, model: type[BaseModel]) -> tuple[Desk, BaseModel]:

    desk = await _desk(request)
    form = await request.post()
    _check_csrf(desk, str(form.get("csrf", "")))
    try:
        return desk, model.model_validate({k: v for k, v in form.items() if isinstance(v, str)})
    except ValidationError as exc:
        raise PageError(422, "Please check the form: " + validation_message(exc)) from None


async def request_info(request: web.Request) -> web.StreamResponse:

    desk, form = await _form(request, InfoForm)
    assert isinstance(form, InfoForm)
    arg = RequestInfo(reason=form.reason, by=desk.who.actor)
    await member.act(
        request.app[PORTAL].api, desk.who, SmoCaseWorkflow.request_more_info, arg, "info.request"
    )
    raise web.HTTPSeeOther(f"{desk.base}?done=info")


async def decline(request: web.Request) -> web.StreamResponse:

    desk, form = await _form(request, DeclineForm)
    assert isinstance(form, DeclineForm)
    arg = Decline(specialist_id=desk.specialist_id, reason=form.reason, by=desk.who.actor)
    await member.act(request.app[PORTAL].api, desk.who, SmoCaseWorkflow.decline, arg, "specialist.decline")
    return render(
        "error.html", 200, title="Declined", message="Thank you: the case goes to another specialist."
    )


def add_routes(app: web.Application) -> None:
    base = "/assignments/{case_id}/{n}/{exp}/{sig}"
    app.router.add_get(base, page)
    app.router.add_get(base + "/records/{doc_id}", download_record)
    app.router.add_post(base + "/report", submit_report)
    app.router.add_post(base + "/info", request_info)
    app.router.add_post(base + "/decline", decline)
