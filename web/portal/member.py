"""A signed-in member's own case page, and what they do there through the API's workflow updates.

The case is the session's own (another case answers 404, exactly as a missing one does);
every POST carries the session's CSRF token. Each action is audited under `member:<case id>`
and its refusal keeps the validator's words. Uploads stream part by part into the encrypted
store (web/uploads.py); the program's cap is checked before a part is stored, so a refused
document leaves nothing behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web
from multidict import MultiDictProxy

import service
from models.case import AddRecords, BookConsult, CaseStatus, UpdateDetails
from models.consent import CONSENT_TEXT, CONSENT_VERSION, ConsentMethod, GiveConsent, WithdrawConsent
from models.intake import PatientIntake
from models.portal import ConsultForm, ContactForm
from runtime.i18n import ICT
from runtime.portal_links import Holder
from web.errors import WebError
from web.portal.base import Portal, act, audit, check_csrf, download, form_text, parse_form, portal_of
from web.portal.pages import case_context, render
from web.portal.signin import COOKIE
from web.uploads import MEMBER_RECORD_TYPES, PAGES, MultipartForm
from workflows.smo_case import SmoCaseWorkflow

T = TypeVar("T")

DONE = {
    "records": "Thank you: your documents are with us.",
    "contact": "Thank you: your contact details are updated and our team has been told.",
    "consult": "Your telephone consultation is booked. We have emailed you the time.",
    "consent": "Thank you: your consent is recorded. Your records can now go to the specialist.",
    "withdrawn": "Your consent is withdrawn: no further records will be sent.",
}

@dataclass(frozen=True, slots=True)
class Visit:
    """One signed-in member's request to their own case."""

    portal: Portal
    who: Holder
    sid: str
    case_id: str

    @property
    def csrf(self) -> str:
        return self.portal.links.csrf_token(self.sid)

    def check_csrf(self, presented: str) -> None:
        check_csrf(self.portal, self.sid, presented)

    def back(self, done: str) -> web.HTTPSeeOther:
        return web.HTTPSeeOther(f"/portal/cases/{self.case_id}?done={done}")

    async def status(self) -> CaseStatus:
        try:
            return await service.status(await self.portal.backends.client(), self.case_id)
        except service.NoCase:
            raise WebError(404, "There is no such case.") from None


async def _visit(request: web.Request) -> Visit:
    portal = portal_of(request)
    sid = request.cookies.get(COOKIE, "")
    who = await asyncio.to_thread(portal.links.session, sid) if sid else None
    if who is None:
        raise WebError(401, "Please sign in with the link from your email.")
    case_id = request.match_info["case_id"]
    if case_id != who.case_id:
        # Someone else's case answers exactly as a case that does not exist.
        raise WebError(404, "There is no such case.")
    return Visit(portal, who, sid, case_id)


async def _form(request: web.Request, parse: Callable[[MultiDictProxy[Any]], T]) -> tuple[Visit, T]:
    """A signed-in member's form POST: the session, its CSRF token, then the fields."""
    visit = await _visit(request)
    form = await request.post()
    visit.check_csrf(form_text(form, "csrf"))
    return visit, parse_form(parse, form)


def _contact_from(form: MultiDictProxy[Any]) -> ContactForm:
    return ContactForm.model_validate({"email": form_text(form, "email"), "phone": form_text(form, "phone")})


def _slot_from(form: MultiDictProxy[Any]) -> datetime:
    # The form's datetime-local field has no zone: the page says the time is ICT.
    parsed = ConsultForm.model_validate({"slot": form_text(form, "slot")}).slot
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=ICT)


def _consent_version_from(form: MultiDictProxy[Any]) -> str:
    version = form_text(form, "version")
    if not version or len(version) > 20:
        raise WebError(422, "Reload the page to see the consent text, then agree to it.")
    return version


# The pages of this module, each declared on its handler.
routes = web.RouteTableDef()


@routes.get("/cases/{case_id}")
async def case_page(request: web.Request) -> web.StreamResponse:
    visit = await _visit(request)
    status = await visit.status()
    return render(
        "case.html",
        csrf=visit.csrf,
        done=DONE.get(request.query.get("done", ""), ""),
        record_types=MEMBER_RECORD_TYPES,
        consent_text=CONSENT_TEXT,
        consent_version=CONSENT_VERSION,
        **case_context(status),
    )


@routes.post("/cases/{case_id}/records")
async def upload_records(request: web.Request) -> web.StreamResponse:
    """csrf, record_type, then the files: the form's order, so nothing is stored unchecked."""
    visit = await _visit(request)
    form = await MultipartForm.of(request, PAGES)
    visit.check_csrf(await form.field("csrf"))
    record_type = form.record_type(await form.field("record_type"), MEMBER_RECORD_TYPES)
    client = await visit.portal.backends.client()
    try:
        await service.ensure_running(client, visit.case_id)
    except service.UserError:
        raise WebError(409, "Your case is finished and takes no more documents.") from None
    records = (await service.status(client, visit.case_id)).records
    cap, has = records.cap, records.documents
    stored = await form.store_files(
        visit.portal.backends.store,
        most=None if cap is None else max(cap - has, 0),
        too_many=f"Your programme accepts up to {cap} documents and your case has {has};"
        " nothing from this upload was kept.",
        least=1,
        too_few="Choose at least one file to upload.",
    )
    arg = AddRecords(documents=service.refs(stored, record_type), by=visit.who.actor)
    await act(visit.portal, visit.who, SmoCaseWorkflow.add_record, arg, "records.add", claims=stored)
    raise visit.back("records")


@routes.post("/cases/{case_id}/contact")
async def update_contact(request: web.Request) -> web.StreamResponse:
    """A new intake sheet with the changed email and phone; the case notifies the team."""
    visit, contact = await _form(request, _contact_from)
    store = visit.portal.backends.store
    current = await asyncio.to_thread(store.load_intake, (await visit.status()).intake_doc_id)
    changed = PatientIntake.model_validate(
        current.model_dump() | {"email": contact.email, "phone": contact.phone}
    )
    stored = await asyncio.to_thread(store.put_intake, changed)
    arg = UpdateDetails(intake_doc_id=stored.doc_id, by=visit.who.actor)
    # A refused change leaves no PHI behind.
    await act(visit.portal, visit.who, SmoCaseWorkflow.update_details, arg, "case.update_details", [stored])
    raise visit.back("contact")


@routes.post("/cases/{case_id}/consult")
async def book_consult(request: web.Request) -> web.StreamResponse:
    visit, slot = await _form(request, _slot_from)
    arg = BookConsult(slot=slot, by=visit.who.actor)
    await act(visit.portal, visit.who, SmoCaseWorkflow.book_consult, arg, "consult.book")
    raise visit.back("consult")


@routes.post("/cases/{case_id}/consent")
async def give_consent(request: web.Request) -> web.StreamResponse:
    visit, version = await _form(request, _consent_version_from)
    arg = GiveConsent(method=ConsentMethod.PORTAL, version=version, by=visit.who.actor)
    await act(visit.portal, visit.who, SmoCaseWorkflow.give_consent, arg, "consent.give")
    raise visit.back("consent")


@routes.post("/cases/{case_id}/consent/withdraw")
async def withdraw_consent(request: web.Request) -> web.StreamResponse:
    visit, _ = await _form(request, lambda _form: None)
    arg = WithdrawConsent(by=visit.who.actor)
    await act(visit.portal, visit.who, SmoCaseWorkflow.withdraw_consent, arg, "consent.withdraw")
    raise visit.back("withdrawn")


@routes.get("/cases/{case_id}/reports/{doc_id}")
async def download_report(request: web.Request) -> web.StreamResponse:
    """The member's own report, from their session: theirs to keep, after close too.

    A refusal is audited as a download is: under the member once the session is theirs.
    """
    portal, action = portal_of(request), "portal.report_download"
    try:
        visit = await _visit(request)
    except WebError as refused:
        # No session, or another case's: nobody known, and the case id not written down.
        await audit(portal, "anonymous", action, f"refused-{refused.status}")
        raise
    doc_id = request.match_info["doc_id"]
    if doc_id not in (await visit.status()).report_doc_ids:
        await audit(portal, visit.who.actor, action, "unknown-document", visit.case_id)
        raise WebError(404, "There is no such document.")
    filename = f"{visit.case_id}-report-{doc_id[:8]}.pdf"
    return await download(request, visit.portal, visit.who, action, doc_id, filename)
