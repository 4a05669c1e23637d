"""Self-service intake: the program's request form, where the program allows it (`portal_intake`).

Anyone may fill in the form with anyone's email address, so a request carries none of the
sender's words to anyone: the case it opens (`CaseInput.self_service`) first emails one
fixed message with a confirmation link, and sends nothing else, to the member or to the
desk, until that link is followed (workflows/case/confirmation.py). Following it shows a
page with a button (mail scanners open links; only the button's POST confirms); then the
case checks eligibility as a coordinator's does, the answer is shown and emailed, and an
eligible case's email carries the sign-in link. The form's documents ride with the case
and become its first records once it is confirmed and eligible.

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
from datetime import UTC, datetime

from aiohttp import web
from temporalio.client import WorkflowExecutionStatus

import service
from models.case import ConfirmRequest, EligibilityFacts
from models.intake import PatientIntake
from models.program import Program
from runtime.documents import StoredDocument
from runtime.portal_links import Holder, LinkCheck, LinkState
from web.errors import WebError
from web.portal import ratelimit
from web.portal.base import (
    FormNonce,
    Portal,
    act,
    audit,
    check_csrf,
    form_text,
    limit,
    open_link,
    parse_form,
    portal_of,
    rate_limit,
)
from web.portal.pages import render
from web.uploads import MEMBER_RECORD_TYPES, PAGES, MultipartForm
from workflows.smo_case import SmoCaseWorkflow

NONCE = FormNonce(cookie="smo_form", path="/portal/request", binding="intake:")
FIELDS = ("policy_number", "patient_name", "date_of_birth", "email", "phone", "diagnosis_text", "icd10")
# "ICD-10 code if known": without one the request is filed as R69, illness unspecified.
UNKNOWN_ICD10 = "R69"
# A form's nonce: the day it was shown (the case id's date) and 144 random bits.
FORM_NONCE = re.compile(r"(\d{6})-([A-Za-z0-9_-]{24})")

SENT_BEFORE = (
    "This form was sent already, with other details or some time ago."
    " To make a new request, open the request form again."
)
CONFIRM_GONE = {
    LinkState.USED: "This request is confirmed already. We email you our answer.",
    LinkState.EXPIRED: "This confirmation link has expired."
    " To ask for an opinion, send the request form again.",
}
CONFIRM_EXPIRED_FORM = "This form has expired. Open the link from your email again."
ENDED = "This request has ended. To ask for an opinion, send the request form again."

def _program(portal: Portal, name: str) -> Program:
    program = portal.backends.programs.get(name)
    if program is None or not program.portal_intake:
        raise WebError(404, "This programme does not take requests online. Please call the desk.")
    return program


def _intake(values: dict[str, str]) -> PatientIntake:
    return PatientIntake.model_validate(
        {k: v.strip() for k, v in values.items() if k in FIELDS}
        | {"icd10": values["icd10"].strip().upper() or UNKNOWN_ICD10}
    )


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
    program = _program(portal_of(request), request.match_info["program"])
    # A new nonce each time the form is shown: each copy of the form is one request.
    nonce = f"{datetime.now(UTC):%y%m%d}-{secrets.token_urlsafe(18)}"
    return NONCE.render(
        request, "intake.html", form=nonce, nonce=nonce, program=program, record_types=MEMBER_RECORD_TYPES
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
        raise WebError(403, "This form has expired. Reload the page and try again.")
    NONCE.check(request, csrf, nonce.group(0))
    values = {name: await form.field(name) for name in (*FIELDS, "record_type")}
    intake = parse_form(_intake, values)
    record_type = form.record_type(values["record_type"], MEMBER_RECORD_TYPES)
    case_id = service.request_case_id(portal.links.key, nonce.group(2), nonce.group(1))
    client = await portal.backends.client()
    stored: list[StoredDocument] = []
    if await service.describe(client, case_id) is None:
        # A new request: it counts towards the limits of the address it mails and the policy
        # it names. A resubmission counts nothing and stores nothing again.
        await limit(request, ratelimit.EMAIL, mailbox(str(intake.email)))
        await limit(request, ratelimit.POLICY, intake.policy_number.strip().upper())
        cap = program.records.document_cap
        too_many = f"Your programme accepts up to {cap} documents; nothing was kept."
        stored = await form.store_files(portal.backends.store, most=cap, too_many=too_many)
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
            form_records=service.refs(stored, record_type),
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
    _program(portal_of(request), request.match_info["program"])
    return render("intake_sent.html")


async def _open_confirmation(request: web.Request) -> tuple[str, LinkCheck]:
    unknown = "This confirmation link is not valid. Use the link from your email."
    token, check = await open_link(request, portal_of(request).links.check_confirmation, "confirm", unknown)
    if check.state is not LinkState.OPEN:
        raise WebError(410, CONFIRM_GONE.get(check.state, ENDED))
    return token, check


@routes.get("/confirm/{token}")
async def confirm_page(request: web.Request) -> web.StreamResponse:
    # Opening the link confirms nothing: mail scanners fetch links, only the button's POST counts.
    token, _ = await _open_confirmation(request)
    return render("intake_confirm.html", csrf=portal_of(request).links.csrf_token("confirm:" + token))


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
    await act(portal, who, SmoCaseWorkflow.confirm_request, ConfirmRequest(by=who.actor), "request.confirm")
    await asyncio.to_thread(portal.links.spend_confirmation, token)
    status = await service.settled_or_current(client, who.case_id, 30.0)
    eligible = status.eligibility is not None and status.eligibility.eligible
    return render("intake_answer.html", 200, status=status, eligible=eligible)
