"""A signed-in member's own case page, and what they do there through the API's workflow updates.

The case is the session's own (another case answers 404, exactly as a missing one does);
every POST carries the session's CSRF token. Every page is in the case's language, set once
the case is loaded (`Visit.case`); the language switch there changes the case's language. Each
action is audited under `member:<case id>`. A refusal is said in plain words for what the
member tried: the case's own words (its validators') go to the audit trail and the log, never
to the member. A booking goes through the case service's slot rule and hold, as the API's does
(`service.book_consult`); a refused slot is told with the rule's reason in the member's
language. Uploads stream part by part into the encrypted store (web/uploads.py); the
program's cap is checked before a part is stored, so a refused document leaves nothing behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

from aiohttp import web
from multidict import MultiDictProxy

import service
from models.case import AddRecords, CaseStatus, Stage
from models.consent import ConsentMethod, GiveConsent, WithdrawConsent
from models.intake import PatientIntake
from models.portal import ConsultForm, ContactForm
from runtime import i18n
from runtime.i18n import ICT, N_, Language, gettext, language_of
from runtime.portal_links import Holder
from web.errors import WebError
from web.portal import language
from web.portal.base import (
    CONTACT_WORDS,
    LATE,
    Portal,
    act,
    answered,
    audit,
    check_csrf,
    download,
    form_text,
    parse_form,
    portal_of,
)
from web.portal.case_view import case_context
from web.portal.dates import date_text
from web.portal.pages import render
from web.portal.signin import COOKIE
from web.uploads import MEMBER_RECORD_TYPES, PAGES, MultipartForm
from workflows.smo_case import SmoCaseWorkflow

T = TypeVar("T")

DONE = {
    "records": N_("Thank you: your documents are with us."),
    "contact": N_("Thank you: your contact details are updated and our team has been told."),
    "same": N_("Nothing was changed: these are the details we have."),
    "language": N_("The language of your case is changed. Our pages and emails to you now use it."),
    "consult": N_("Your telephone consultation is booked. We have emailed you the time."),
    "consent": N_("Thank you: your consent is recorded. Your records can now go to the specialist."),
    "withdrawn": N_("Your consent is withdrawn: no further records will be sent."),
}
NO_CASE = N_("There is no such case.")
SIGN_IN = N_("Please sign in with the link from your email.")
# What the member is told when the case refuses what they tried, one sentence per action.
REFUSED = {
    "records.add": N_(
        "Your case does not take documents now. If you have an important document, please contact us."
    ),
    "records.finished": N_("Your case is finished and takes no more documents."),
    "case.update_details": N_("Your details cannot be changed now. Please contact us."),
    "case.language": N_("The language of your case cannot be changed now. Please contact us."),
    "consult.not_yet": N_("Booking a consultation opens once your report is ready."),
    "consult.booked": N_("Your consultation is booked already. You can book another after it."),
    "consult.book": N_("A consultation cannot be booked now. Please try again later or contact us."),
    "consent.give": N_("The consent text has changed. Reload the page, read it again and agree."),
    "consent.withdraw": N_("Your consent cannot be withdrawn now. Please contact us."),
}
SLOT_WORDS = {"slot": N_("Please choose the day and the time for the consultation.")}
PAST_SLOT = N_("Please choose a day and time that are still to come.")
# A slot the slot rule refuses (`service.SlotRefused`): its reason, in the member's words.
SLOT_REFUSED = N_("This time cannot be booked: %(reason)s. Please choose another day or time.")
RELOAD_CONSENT = N_("Reload the page to see the consent text, then agree to it.")
NO_DOCUMENT = N_("There is no such document.")
TOO_MANY = N_(
    "Your programme takes up to %(cap)s documents and your case has %(has)s."
    " Nothing from this upload was kept."
)
NO_FILE = N_("Choose at least one file to send.")
UNKNOWN_LANGUAGE = N_("Choose one of the languages on the page.")


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

    async def case(self, chosen: Language | None = None) -> tuple[CaseStatus, PatientIntake]:
        """The case and its intake sheet; from here on the page is in the case's language
        (a finished case takes no change of language: there the reader's `chosen` one wins)."""
        try:
            status = await service.status(await self.portal.backends.client(), self.case_id)
        except service.NoCase:
            raise WebError(404, NO_CASE) from None
        intake = await asyncio.to_thread(self.portal.backends.store.load_intake, status.intake_doc_id)
        wanted = chosen if chosen is not None and status.stage.terminal else None
        i18n.use(wanted or language_of(intake.language))
        return status, intake

    async def change(self, changes: dict[str, Any], action: str) -> None:
        """A new intake sheet with `changes`, sent to the case (service.change_details)."""
        backends = self.portal.backends
        with answered(action, REFUSED[action]):
            ack = await service.change_details(
                await backends.client(),
                backends.engine,
                backends.store,
                case_id=self.case_id,
                actor=self.who.actor,
                changes=changes,
                action=action,
            )
        if ack is None:
            raise WebError(503, LATE)


async def _visit(request: web.Request) -> Visit:
    portal = portal_of(request)
    sid = request.cookies.get(COOKIE, "")
    who = await asyncio.to_thread(portal.links.session, sid) if sid else None
    if who is None:
        raise WebError(401, SIGN_IN)
    case_id = request.match_info["case_id"]
    if case_id != who.case_id:
        # Someone else's case answers exactly as a case that does not exist.
        raise WebError(404, NO_CASE)
    return Visit(portal, who, sid, case_id)


async def _form(
    request: web.Request, parse: Callable[[MultiDictProxy[Any]], T], plain: dict[str, str] | None = None
) -> tuple[Visit, CaseStatus, PatientIntake, T]:
    """A signed-in member's form POST: the session, the case (its language), the CSRF token,
    then the fields."""
    visit = await _visit(request)
    status, intake = await visit.case()
    form = await request.post()
    visit.check_csrf(form_text(form, "csrf"))
    return visit, status, intake, parse_form(parse, form, plain)


def _contact_from(form: MultiDictProxy[Any]) -> ContactForm:
    return ContactForm.model_validate({"email": form_text(form, "email"), "phone": form_text(form, "phone")})


def _slot_from(form: MultiDictProxy[Any]) -> datetime:
    """The day (three fields) and the time the member chose, in ICT as the page says; a client
    may send one `slot` field instead."""
    typed, time = date_text(form, "slot"), form_text(form, "slot_time")
    text = form_text(form, "slot") or (f"{typed}T{time}" if typed and time else "")
    parsed = ConsultForm.model_validate({"slot": text}).slot
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=ICT)


def _consent_version_from(form: MultiDictProxy[Any]) -> str:
    version = form_text(form, "version")
    if not version or len(version) > 20:
        raise WebError(422, RELOAD_CONSENT)
    return version


def _language_from(form: MultiDictProxy[Any]) -> Language:
    asked = form_text(form, "language")
    if asked not in Language.__members__.values():
        raise WebError(422, UNKNOWN_LANGUAGE)
    return Language(asked)


def _booking_refused(status: CaseStatus) -> str:
    """Why the case takes no booking now (a key of `REFUSED`)."""
    if status.consult_pending:
        return "consult.booked"
    if status.stage not in (Stage.REPORT_DELIVERED, Stage.CONSULT):
        return "consult.not_yet"
    return "consult.book"


async def _refuse(visit: Visit, action: str, status: CaseStatus, words: str) -> NoReturn:
    """A refusal the page decides from the case's status before asking the case: audited as the
    case's own would be, and said as `REFUSED[words]`."""
    detail = f"the case is {status.stage.value}"
    await audit(visit.portal, visit.who.actor, action, "refused", visit.case_id, detail)
    raise WebError(409, REFUSED[words])


# The pages of this module, each declared on its handler.
routes = web.RouteTableDef()


@routes.get("/cases/{case_id}")
async def case_page(request: web.Request) -> web.StreamResponse:
    visit = await _visit(request)
    status, intake = await visit.case(language.chosen(request))
    context = case_context(
        status, email=intake.email, phone=intake.phone, done=DONE.get(request.query.get("done", ""), "")
    )
    return render("case.html", csrf=visit.csrf, desk=visit.portal.desk, **context)


@routes.post("/cases/{case_id}/records")
async def upload_records(request: web.Request) -> web.StreamResponse:
    """csrf, record_type, then the files: the form's order, so nothing is stored unchecked."""
    visit = await _visit(request)
    status, _ = await visit.case()
    form = await MultipartForm.of(request, PAGES)
    visit.check_csrf(await form.field("csrf"))
    record_type = form.record_type(await form.field("record_type"), MEMBER_RECORD_TYPES)
    records = status.records
    if not records.accepting:
        await _refuse(
            visit, "records.add", status, "records.finished" if status.stage.terminal else "records.add"
        )
    cap, has = records.cap, records.documents
    stored = await form.store_files(
        visit.portal.backends.store,
        case_id=visit.case_id,
        most=None if cap is None else max(cap - has, 0),
        too_many=gettext(TOO_MANY, cap=cap, has=has),
        least=1,
        too_few=gettext(NO_FILE),
    )
    arg = AddRecords(documents=service.refs(stored, record_type), by=visit.who.actor)
    refused = REFUSED["records.add"]
    await act(
        visit.portal, visit.who, SmoCaseWorkflow.add_record, arg, "records.add", stored, refused=refused
    )
    raise visit.back("records")


@routes.post("/cases/{case_id}/contact")
async def update_contact(request: web.Request) -> web.StreamResponse:
    """Each field alone: an empty one keeps what is on file; the case notifies the team."""
    visit, _, intake, contact = await _form(request, _contact_from, CONTACT_WORDS)
    changes = {
        field: value
        for field, value in (("email", contact.email), ("phone", contact.phone))
        if value is not None and value != getattr(intake, field)
    }
    if not changes:
        raise visit.back("same")
    await visit.change(changes, "case.update_details")
    raise visit.back("contact")


@routes.post("/cases/{case_id}/language")
async def change_language(request: web.Request) -> web.StreamResponse:
    """The case's language: every page and email of the case follows it from now on."""
    visit, _, intake, asked = await _form(request, _language_from)
    if asked is not language_of(intake.language):
        await visit.change({"language": asked.value}, "case.language")
    response = visit.back("language")
    language.remember(response, asked)  # the pages before sign-in, next time, too
    raise response


@routes.post("/cases/{case_id}/consult")
async def book_consult(request: web.Request) -> web.StreamResponse:
    visit, status, _, slot = await _form(request, _slot_from, SLOT_WORDS)
    if not status.consult_open:
        await _refuse(visit, "consult.book", status, _booking_refused(status))
    if slot <= datetime.now(UTC):
        raise WebError(422, PAST_SLOT)
    backends = visit.portal.backends
    refused = REFUSED[_booking_refused(status)]
    try:
        with answered("consult.book", refused):
            ack = await service.book_consult(
                await backends.client(),
                backends.engine,
                backends.settings,
                visit.case_id,
                slot,
                visit.who.actor,
                "consult.book",
            )
    except service.SlotRefused as exc:  # audited by the service with the rule's words
        raise WebError(422, SLOT_REFUSED, reason=gettext(exc.reason)) from None
    except service.CaseConflict:  # the case moved on since its page was read
        raise WebError(409, refused) from None
    if ack is None:
        raise WebError(503, LATE)
    raise visit.back("consult")


@routes.post("/cases/{case_id}/consent")
async def give_consent(request: web.Request) -> web.StreamResponse:
    visit, status, _, version = await _form(request, _consent_version_from)
    if status.consent.given:  # sent twice: it is recorded already
        raise visit.back("consent")
    arg = GiveConsent(method=ConsentMethod.PORTAL, version=version, by=visit.who.actor)
    refused = REFUSED["consent.give"]
    await act(visit.portal, visit.who, SmoCaseWorkflow.give_consent, arg, "consent.give", refused=refused)
    raise visit.back("consent")


@routes.post("/cases/{case_id}/consent/withdraw")
async def withdraw_consent(request: web.Request) -> web.StreamResponse:
    visit, status, _, _ = await _form(request, lambda _form: None)
    if not status.consent.given:  # sent twice, or nothing to withdraw: nothing more is sent
        raise visit.back("withdrawn")
    arg = WithdrawConsent(by=visit.who.actor)
    refused = REFUSED["consent.withdraw"]
    await act(
        visit.portal, visit.who, SmoCaseWorkflow.withdraw_consent, arg, "consent.withdraw", refused=refused
    )
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
    status, _ = await visit.case()
    if doc_id not in status.report_doc_ids:
        await audit(portal, visit.who.actor, action, "unknown-document", visit.case_id)
        raise WebError(404, NO_DOCUMENT)
    filename = f"{visit.case_id}-report-{doc_id[:8]}.pdf"
    return await download(request, visit.portal, visit.who, action, doc_id, filename)
