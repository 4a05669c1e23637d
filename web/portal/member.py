"""A signed-in member's own case page, and what they do there through the API's workflow updates.

The case is the session's own (another case answers 404, exactly as a missing one does);
every POST carries the session's CSRF token (web.portal.member_visit). Every page is in the
case's language, set once the case is loaded; the language switch there changes the case's
language. Each action is audited under `member:<case id>`. A refusal is said in plain words for
what the member tried: the case's own words (its validators') go to the audit trail and the
log, never to the member. The telephone consult's actions are web.portal.member_consult's;
the page shows it (web.portal.consult_view) only while there is one to show. Uploads stream
part by part into the encrypted store (web/uploads.py); the program's cap is checked before a
part is stored, so a refused document leaves nothing behind.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, NoReturn

from aiohttp import web
from multidict import MultiDictProxy

import service
from models.case import AddRecords, CaseStatus, Stage
from models.consent import ConsentMethod, GiveConsent, WithdrawConsent
from models.portal import ContactForm
from runtime.i18n import N_, Language, gettext, language_of
from web.errors import WebError
from web.portal import language
from web.portal.base import CONTACT_WORDS, act, audit, download, form_text, portal_of
from web.portal.case_view import case_context
from web.portal.consult_view import CONSULT_DONE, member_consult
from web.portal.follow_up_form import follow_up_ask
from web.portal.member_doctor import DOCTOR_DONE, doctor_named
from web.portal.member_questions import QUESTIONS_DONE, can_rewrite
from web.portal.member_release import RELEASE_DONE, providers_named
from web.portal.member_visit import Visit, change_details, form_of, visit_of
from web.portal.opinion_view import opinion_view
from web.portal.pages import render
from web.portal.record_facts import record_facts
from web.uploads import MEMBER_RECORD_TYPES, PAGES, MultipartForm
from workflows.smo_case import SmoCaseWorkflow

DONE = {
    "records": N_("Thank you: your documents are with us."),
    "contact": N_("Thank you: your contact details are updated and our team has been told."),
    "same": N_("Nothing was changed: these are the details we have."),
    "language": N_("The language of your case is changed. Our pages and emails to you now use it."),
    "consent": N_("Thank you: your consent is recorded. Your records can now go to the specialist."),
    "withdrawn": N_("Your consent is withdrawn: no further records will be sent."),
    **CONSULT_DONE,
    **RELEASE_DONE,
    **DOCTOR_DONE,
    **QUESTIONS_DONE,
    "asked_follow_up": N_(
        "Thank you: the specialist has your question. We will email you when it is answered."
    ),
}
# What the member is told when the case refuses what they tried, one sentence per action.
REFUSED = {
    "records.add": N_(
        "Your case does not take documents now. If you have an important document, please contact us."
    ),
    "records.finished": N_("Your case is finished and takes no more documents."),
    "case.update_details": N_("Your details cannot be changed now. Please contact us."),
    "case.language": N_("The language of your case cannot be changed now. Please contact us."),
    "consent.give": N_("The consent text has changed. Reload the page, read it again and agree."),
    "consent.withdraw": N_("Your consent cannot be withdrawn now. Please contact us."),
}
RELOAD_CONSENT = N_("Reload the page to see the consent text, then agree to it.")
NO_DOCUMENT = N_("There is no such document.")
TOO_MANY = N_(
    "Your programme takes up to %(cap)s documents and your case has %(has)s."
    " Nothing from this upload was kept."
)
NO_FILE = N_("Choose at least one file to send.")
UNKNOWN_LANGUAGE = N_("Choose one of the languages on the page.")


async def _change(visit: Visit, changes: dict[str, Any], action: str) -> None:
    """A new intake sheet with `changes`, sent to the case (service.change_details)."""
    await change_details(visit, changes, action, REFUSED[action])


def _contact_from(form: MultiDictProxy[Any]) -> ContactForm:
    return ContactForm.model_validate({"email": form_text(form, "email"), "phone": form_text(form, "phone")})


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


async def _refuse(visit: Visit, action: str, status: CaseStatus, words: str) -> NoReturn:
    """A refusal the page decides from the case's status before asking the case: audited as the
    case's own would be, and said as `REFUSED[words]`."""
    await visit.refuse(action, REFUSED[words], f"the case is {status.stage.value}")


# The pages of this module, each declared on its handler.
routes = web.RouteTableDef()


@routes.get("/cases/{case_id}")
async def case_page(request: web.Request) -> web.StreamResponse:
    visit = await visit_of(request)
    status, intake = await visit.case(language.chosen(request))
    consult = await member_consult(visit.portal.backends, status, datetime.now(UTC))
    done = DONE.get(request.query.get("done", ""), "")
    context = case_context(status, email=intake.email, phone=intake.phone, done=done, consult=consult)
    named, opinion, doctor = await asyncio.gather(
        providers_named(visit.portal, status),
        opinion_view(visit.portal, status),
        doctor_named(visit.portal, status),
    )
    context |= {"named": named, "opinion": opinion, "can_ask": _can_ask(status), "doctor": doctor}
    context |= {"questions": intake.questions if can_rewrite(status) else None}
    return render("case.html", csrf=visit.csrf, desk=visit.portal.desk, **context)


@routes.post("/cases/{case_id}/records")
async def upload_records(request: web.Request) -> web.StreamResponse:
    """csrf, record_type, the records' language and date (both may be left out), then the files:
    the form's order, so nothing is stored unchecked."""
    visit = await visit_of(request)
    status, _ = await visit.case()
    form = await MultipartForm.of(request, PAGES)
    visit.check_csrf(await form.field("csrf"))
    record_type = form.record_type(await form.field("record_type"), MEMBER_RECORD_TYPES)
    facts = record_facts(await form.optional_field("language"), await form.optional_field("dated"))
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
    refs = [ref.model_copy(update=facts) for ref in service.refs(stored, record_type)]
    arg = AddRecords(documents=refs, by=visit.who.actor)
    refused = REFUSED["records.add"]
    await act(
        visit.portal, visit.who, SmoCaseWorkflow.add_record, arg, "records.add", stored, refused=refused
    )
    raise visit.back("records")


def _can_ask(status: CaseStatus) -> bool:
    """Whether the page offers a follow-up question: after the report, while the case is open
    (the case itself checks the program's count and window)."""
    return status.stage in (Stage.REPORT_DELIVERED, Stage.CONSULT) and bool(status.report_doc_ids)


@routes.post("/cases/{case_id}/follow-ups")
async def ask_follow_up(request: web.Request) -> web.StreamResponse:
    visit, _, _, text = await form_of(request, lambda form: form_text(form, "text"))
    await follow_up_ask(visit.portal, visit.who, text)
    raise visit.back("asked_follow_up")


@routes.post("/cases/{case_id}/contact")
async def update_contact(request: web.Request) -> web.StreamResponse:
    """Each field alone: an empty one keeps what is on file; the case notifies the team."""
    visit, _, intake, contact = await form_of(request, _contact_from, CONTACT_WORDS)
    changes = {
        field: value
        for field, value in (("email", contact.email), ("phone", contact.phone))
        if value is not None and value != getattr(intake, field)
    }
    if not changes:
        raise visit.back("same")
    await _change(visit, changes, "case.update_details")
    raise visit.back("contact")


@routes.post("/cases/{case_id}/language")
async def change_language(request: web.Request) -> web.StreamResponse:
    """The case's language: every page and email of the case follows it from now on."""
    visit, _, intake, asked = await form_of(request, _language_from)
    if asked is not language_of(intake.language):
        await _change(visit, {"language": asked.value}, "case.language")
    response = visit.back("language")
    language.remember(response, asked)  # the pages before sign-in, next time, too
    raise response


@routes.post("/cases/{case_id}/consent")
async def give_consent(request: web.Request) -> web.StreamResponse:
    visit, status, _, version = await form_of(request, _consent_version_from)
    if status.consent.given:  # sent twice: it is recorded already
        raise visit.back("consent")
    arg = GiveConsent(method=ConsentMethod.PORTAL, version=version, by=visit.who.actor)
    refused = REFUSED["consent.give"]
    await act(visit.portal, visit.who, SmoCaseWorkflow.give_consent, arg, "consent.give", refused=refused)
    raise visit.back("consent")


@routes.post("/cases/{case_id}/consent/withdraw")
async def withdraw_consent(request: web.Request) -> web.StreamResponse:
    visit, status, _, _ = await form_of(request, lambda _form: None)
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
        visit = await visit_of(request)
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
