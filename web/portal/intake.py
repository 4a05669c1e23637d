"""Self-service intake: the program's request form, where the program allows it (`portal_intake`).

Anyone may fill in the form with anyone's email address, so a request carries none of the
sender's words to anyone: the case it opens (`CaseInput.self_service`) first emails one
fixed message with a confirmation link, and sends nothing else, to the member or to the
desk, until that link is followed (workflows/case/confirmation.py). Following it shows a
page with a button (mail scanners open links; only the button's POST confirms); then the
case checks eligibility as a coordinator's does, the answer is shown and emailed, and an
eligible case's email carries the sign-in link. The form's documents ride with the case,
each with the type the member chose for it, and become its first records once it is
confirmed and eligible.

The form is in the page's language (`web.portal.language`); the member chooses on it the
language of their case, which the confirmation and the answer pages then speak. A refusal
says in plain words what to check, never the value typed.

A request is opened once. Each copy of the form carries a random nonce, and the case id is
a keyed hash of it (`service.request_case_id`): the same form sent twice (a double click,
a resubmission) reaches the same case. The POST answers with a redirect to a page that
says to check the email (POST/redirect/GET), so a reload sends nothing again. Requests are
limited per email address and per policy number in the case DB (web.portal.ratelimit).

Until the case exists there is no session, so the form's CSRF token is bound to a random
cookie and to the form's nonce (`FormNonce`); the confirmation page's is bound to its link.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from temporalio.client import WorkflowExecutionStatus

import service
from models.case import CaseStatus, ConfirmRequest, EligibilityDecision, EligibilityFacts
from models.input_text import MAX_QUESTIONS
from models.intake import PatientIntake
from models.program import Program
from models.vocabulary import RecordType, Sex
from runtime import i18n, words
from runtime.documents import StoredDocument
from runtime.i18n import N_, Language, gettext, language_of
from runtime.portal_links import Holder, LinkCheck, LinkState
from service.documents import typed_refs
from web.errors import WebError
from web.portal import ratelimit
from web.portal.base import (
    CONTACT_WORDS,
    EXPIRED_FORM,
    FormNonce,
    Portal,
    act,
    audit,
    check_csrf,
    form_text,
    limit,
    open_link,
    portal_of,
    rate_limit,
)
from web.portal.dates import date_text
from web.portal.language import chosen
from web.portal.pages import render
from web.uploads import MEMBER_RECORD_TYPES, PAGES, MultipartForm
from workflows.smo_case import SmoCaseWorkflow

NONCE = FormNonce(cookie="smo_form", path="/portal/request", binding="intake:")
# The form's fields in the order the page sends them (a multipart body is read in order); its
# documents follow, each a `record_type` field and then its `file` (web.uploads).
FIELDS = (
    "policy_number",
    "patient_name",
    "date_of_birth_day",
    "date_of_birth_month",
    "date_of_birth_year",
    "sex",
    "email",
    "phone",
    "language",
    "diagnosis_text",
    "icd10",
)
# "ICD-10 code if known": without one the request is filed as R69, illness unspecified.
UNKNOWN_ICD10 = "R69"
# A form's nonce: the day it was shown (the case id's date) and 144 random bits.
FORM_NONCE = re.compile(r"(\d{6})-([A-Za-z0-9_-]{24})")
# Rows for documents beyond the program's list: other papers the member may have.
SPARE_ROWS = 3

NOT_ONLINE = N_("This programme does not take requests online. Please call the desk.")
TOO_MANY = N_("You can send up to %(cap)s documents. Nothing was kept. Please send fewer.")
SENT_BEFORE = N_(
    "This form was sent already, with other details or some time ago."
    " To make a new request, open the request form again."
)
CONFIRM_UNKNOWN = N_("This confirmation link is not valid. Use the link from your email.")
CONFIRM_GONE = {
    LinkState.USED: N_("This request is confirmed already. We email you our answer."),
    LinkState.EXPIRED: N_(
        "This confirmation link has expired. To ask for an opinion, send the request form again."
    ),
}
CONFIRM_EXPIRED_FORM = N_("This form has expired. Open the link from your email again.")
ENDED = N_("This request has ended. To ask for an opinion, send the request form again.")

# A mistake on the form, in plain words: what to check, never the value typed (it may be PHI).
PROBLEMS: dict[str, str] = {
    "policy_number": N_("Please check the policy number."),
    "patient_name": N_("Please write the patient's full name."),
    "date_of_birth": N_("This day does not exist. Please check the day and the month of the date of birth."),
    **CONTACT_WORDS,
    "diagnosis_text": N_("Please write the illness in a few words."),
    "icd10": N_("Please check the ICD-10 code, or leave it empty."),
    "sex": N_("Please choose female or male, or leave it empty."),
    "language": N_("Please choose a language from the list."),
    "questions": N_("Please check your questions: each is written text of at most 1,000 characters."),
}
TOO_MANY_QUESTIONS = N_("Please write at most %(most)s questions.")
# A question's box, read whole up to its 1,000 characters in any script (4 bytes each at most).
QUESTION_BYTES = 4_000
NO_DATE = N_("Please give the date of birth: the day, the month and the year.")
CHECK_FORM = N_("Please check the form and send it again.")


def _program(portal: Portal, name: str) -> Program:
    program = portal.backends.programs.get(name)
    if program is None or not program.portal_intake:
        raise WebError(404, NOT_ONLINE)
    return program


async def _questions(form: MultipartForm) -> list[str]:
    """The member's questions for the specialist, from the form's question boxes (the empty ones
    left out); a sixth box, or one past its length, is a 422 that says what to check."""
    asked: list[str] = []
    for _ in range(MAX_QUESTIONS + 1):
        try:
            text = await form.optional_field("question", QUESTION_BYTES)
        except WebError as exc:
            raise WebError(422, PROBLEMS["questions"]) from exc
        if text is None:
            return asked
        if text.strip():
            asked.append(text)
    raise WebError(422, gettext(TOO_MANY_QUESTIONS, most=MAX_QUESTIONS))


def _intake(values: Mapping[str, str], questions: list[str]) -> PatientIntake:
    """The form's fields as the intake sheet; a mistake is a 422 that says what to check."""
    if values["language"] not in {language.value for language in Language}:
        raise WebError(422, PROBLEMS["language"])
    born = date_text(values, "date_of_birth")
    if not born:
        raise WebError(422, NO_DATE)
    typed = ("policy_number", "patient_name", "email", "phone", "diagnosis_text")
    try:
        return PatientIntake.model_validate(
            {name: values[name].strip() for name in typed}
            | {
                "date_of_birth": born,
                "icd10": values["icd10"].strip().upper() or UNKNOWN_ICD10,
                "sex": values["sex"] or None,
                "language": values["language"],
                "questions": questions,
            }
        )
    except ValidationError as exc:
        field = str(exc.errors(include_url=False, include_input=False)[0]["loc"][0])
        raise WebError(422, PROBLEMS.get(field, CHECK_FORM)) from None


def mailbox(address: str) -> str:
    """The mailbox an address reaches, for counting: `Name+tag@Example.com` is `name@example.com`.

    Most providers deliver every `+tag` variant to one mailbox, so each must not get a limit of
    its own.
    """
    local, _, domain = address.strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


# The pages of this module, each declared on its handler.
routes = web.RouteTableDef()


@routes.get("/request/{program}")
async def form(request: web.Request) -> web.StreamResponse:
    portal = portal_of(request)
    program = _program(portal, request.match_info["program"])
    # A new nonce each time the form is shown: each copy of the form is one request.
    nonce = f"{datetime.now(UTC):%y%m%d}-{secrets.token_urlsafe(18)}"
    needed = program.records.required
    cap = program.records.document_cap
    # A row for each document the program needs, its type chosen, then spare rows to choose.
    rows: list[RecordType | None] = [*needed, *[None] * SPARE_ROWS][:cap]
    return NONCE.render(
        request,
        "intake.html",
        form=nonce,
        nonce=nonce,
        program=program,
        needed=words.record_types(needed),
        rows=rows,
        choices=[(t.value, words.record_type(t)) for t in MEMBER_RECORD_TYPES],
        sexes=[(s.value, words.sex(s)) for s in Sex],
        cap=cap,
        questions=MAX_QUESTIONS,
        desk=portal.desk,
    )


@routes.post("/request/{program}")
async def submit(request: web.Request) -> web.StreamResponse:
    rate_limit(request)
    portal = portal_of(request)
    program = _program(portal, request.match_info["program"])
    form = await MultipartForm.of(request, PAGES)
    csrf = await form.field("csrf")
    nonce = FORM_NONCE.fullmatch(await form.field("form"))
    if nonce is None:
        raise WebError(403, EXPIRED_FORM)
    NONCE.check(request, csrf, nonce.group(0))
    values = {name: await form.field(name) for name in FIELDS}
    intake = _intake(values, await _questions(form))
    case_id = service.request_case_id(portal.links.key, nonce.group(2), nonce.group(1))
    client = await portal.backends.client()
    typed: list[tuple[StoredDocument, RecordType]] = []
    if await service.describe(client, case_id) is None:
        # A new request: it counts towards the limits of the address it mails and the policy
        # it names. A resubmission counts nothing and stores nothing again.
        await limit(request, ratelimit.EMAIL, mailbox(str(intake.email)))
        await limit(request, ratelimit.POLICY, intake.policy_number.strip().upper())
        cap = program.records.document_cap
        typed = await form.store_typed_files(
            portal.backends.store,
            MEMBER_RECORD_TYPES,
            case_id=case_id,
            most=cap,
            too_many=gettext(TOO_MANY, cap=cap),
        )
    stored = [doc for doc, _ in typed]
    try:
        await service.open_case(
            client,
            portal.backends.settings,
            portal.backends.store,
            program=program.name,
            intake=intake,
            facts=EligibilityFacts(),
            opened_by="member:portal",
            case_id=case_id,
            wait=False,
            consent_required=True,
            self_service=True,
            form_records=typed_refs(typed),
        )
    except service.CaseConflict:
        await service.discard(portal.backends.store, stored)
        raise WebError(409, SENT_BEFORE) from None
    except BaseException:
        await service.discard(portal.backends.store, stored)  # no case will claim them
        raise
    detail = f"{len(stored)} documents" if stored else "sent again or without documents"
    await audit(portal, f"member:{case_id}", "case.open", "requested", case_id, detail)
    raise web.HTTPSeeOther(f"/portal/request/{program.name}/sent")


@routes.get("/request/{program}/sent")
async def sent(request: web.Request) -> web.StreamResponse:
    """Where the form's POST leads: what happens next, and nothing about the request itself."""
    portal = portal_of(request)
    _program(portal, request.match_info["program"])
    return render("intake_sent.html", desk=portal.desk)


async def _open_confirmation(request: web.Request) -> tuple[str, LinkCheck]:
    token, check = await open_link(
        request, portal_of(request).links.check_confirmation, "confirm", CONFIRM_UNKNOWN
    )
    if check.state is not LinkState.OPEN:
        raise WebError(410, CONFIRM_GONE.get(check.state, ENDED))
    return token, check


async def _members_language(request: web.Request, status: CaseStatus) -> None:
    """The confirmation and the answer speak the language chosen on the form, unless the reader
    picks another with this page's switch."""
    if chosen(request) is None:
        store = portal_of(request).backends.store
        intake = await asyncio.to_thread(store.load_intake, status.case_id, status.intake_doc_id)
        i18n.use(language_of(intake.language))


@routes.get("/confirm/{token}")
async def confirm_page(request: web.Request) -> web.StreamResponse:
    # Opening the link confirms nothing: mail scanners fetch links, only the button's POST counts.
    token, check = await _open_confirmation(request)
    portal = portal_of(request)
    assert check.case_id is not None
    status = await portal.backends.case_status(check.case_id)
    await _members_language(request, status)
    return render("intake_confirm.html", csrf=portal.links.csrf_token("confirm:" + token))


@routes.post("/confirm/{token}")
async def confirm(request: web.Request) -> web.StreamResponse:
    portal = portal_of(request)
    token, check = await _open_confirmation(request)
    posted = await request.post()
    check_csrf(portal, "confirm:" + token, form_text(posted, "csrf"), CONFIRM_EXPIRED_FORM)
    assert check.case_id is not None
    who = Holder(case_id=check.case_id, actor=f"member:{check.case_id}")
    client = await portal.backends.client()
    desc = await service.describe(client, who.case_id)
    if desc is None or desc.status != WorkflowExecutionStatus.RUNNING:
        raise WebError(410, ENDED)  # unconfirmed for a day, or cancelled
    confirm = ConfirmRequest(by=who.actor)
    # A refusal is the case's own English: the member reads the plain sentence in their language.
    await act(portal, who, SmoCaseWorkflow.confirm_request, confirm, "request.confirm", refused=ENDED)
    await asyncio.to_thread(portal.links.spend_confirmation, token)
    status = await service.settled_or_current(client, who.case_id, 30.0)
    await _members_language(request, status)
    return render("intake_answer.html", 200, **_answer(portal, status))


def _answer(portal: Portal, status: CaseStatus) -> dict[str, Any]:
    decision = status.eligibility
    reasons, next_steps = _refusal(portal.backends.programs.get(status.program), decision)
    return {
        "status": status,
        "eligible": decision is not None and decision.eligible,
        "checked": decision is not None,
        "reasons": reasons,
        "next_steps": next_steps,
        "desk": portal.desk,  # the page's footer: how to reach the desk
    }


def _refusal(program: Program | None, decision: EligibilityDecision | None) -> tuple[list[str], list[str]]:
    """Why a refused request was refused, in the program's words to the member, and what they can
    do next: each sentence once (two rules may give the same next step)."""
    if program is None or decision is None or decision.eligible:
        return [], []
    # A refusal that names no rule still gets the program's general words.
    said = [program.member_words(r.code) for r in decision.reasons] or [program.member_words("")]
    return _once(gettext(w.reason) for w in said), _once(gettext(w.next_step) for w in said)


def _once(sentences: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(sentences))
