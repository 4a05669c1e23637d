"""Self-service intake: the program's upload form, where the program allows it (`portal_intake`).

The member's details and documents arrive in one multipart form, fields first; the case
opens exactly as a coordinator's does (the same eligibility), with the member's consent
to the transfer required before assignment. The answer is shown and emailed; when the
case is open, the email carries the sign-in link. Until the case exists there is no
session, so the form's CSRF token is bound to a random cookie (`FormNonce`).
"""

from __future__ import annotations

from aiohttp import web

import service
from models.case import AddRecords, EligibilityFacts, RecordType
from models.intake import PatientIntake
from models.program import Program
from runtime.documents import StoredDocument
from runtime.portal_links import Holder
from web.errors import WebError
from web.portal.base import FormNonce, Portal, act, audit, parse_form, portal_of, rate_limit
from web.portal.pages import render
from web.uploads import MEMBER_RECORD_TYPES, PAGES, MultipartForm
from workflows.smo_case import SmoCaseWorkflow

NONCE = FormNonce(cookie="smo_form", path="/portal/request", binding="intake:")
FIELDS = ("policy_number", "patient_name", "date_of_birth", "email", "phone", "diagnosis_text", "icd10")
# "ICD-10 code if known": without one the request is filed as R69, illness unspecified.
UNKNOWN_ICD10 = "R69"


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


async def form(request: web.Request) -> web.StreamResponse:
    program = _program(portal_of(request), request.match_info["program"])
    return NONCE.render(request, "intake.html", program=program, record_types=MEMBER_RECORD_TYPES)


async def submit(request: web.Request) -> web.StreamResponse:
    rate_limit(request)
    portal = portal_of(request)
    program = _program(portal, request.match_info["program"])
    form = await MultipartForm.of(request, PAGES)
    NONCE.check(request, await form.field("csrf"))
    values = {name: await form.field(name) for name in (*FIELDS, "record_type")}
    intake = parse_form(_intake, values)
    record_type = form.record_type(values["record_type"], MEMBER_RECORD_TYPES)
    cap = program.records.document_cap
    too_many = f"Your programme accepts up to {cap} documents; nothing was kept."
    stored = await form.store_files(portal.backends.store, most=cap, too_many=too_many)
    return await _open(portal, program.name, intake, record_type, stored)


async def _open(
    portal: Portal, program: str, intake: PatientIntake, record_type: RecordType, stored: list[StoredDocument]
) -> web.StreamResponse:
    """Open the case; once eligible, its first records are the documents the form brought."""
    client = await portal.backends.client()
    try:
        opened = await service.open_case(
            client,
            portal.backends.settings,
            portal.backends.store,
            program=program,
            intake=intake,
            facts=EligibilityFacts(),
            opened_by="member:portal",
            wait=False,
            consent_required=True,
        )
        case_id = opened.case_id
        who = Holder(case_id=case_id, actor=f"member:{case_id}")
        await audit(portal, who.actor, "case.open", "requested", case_id)
        status = await service.settled_or_current(client, case_id, 30.0)
    except BaseException:
        await service.discard(portal.backends.store, stored)  # no case will claim them
        raise
    if status.eligibility is not None and not status.eligibility.eligible:
        await service.discard(portal.backends.store, stored)
        return render("intake_answer.html", 200, status=status, eligible=False)
    if stored:
        arg = AddRecords(documents=service.refs(stored, record_type), by=who.actor)
        await act(portal, who, SmoCaseWorkflow.add_record, arg, "records.add", claims=stored)
    return render("intake_answer.html", 200, status=status, eligible=True)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/request/{program}", form)
    app.router.add_post("/request/{program}", submit)

