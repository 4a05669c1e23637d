"""Self-service intake: the program's upload form, where the program allows it (`portal_intake`).

The member's details and documents arrive in one multipart form, fields first; the case
opens exactly as a coordinator's does (the same eligibility), with the member's consent
to the transfer required before assignment. The answer is shown and emailed; when the
case is open, the email carries the sign-in link. Until the case exists there is no
session, so the form's CSRF token is bound to a random cookie (double submit).
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from aiohttp import BodyPartReader, web
from pydantic import ValidationError

from activities.storage import StoredDocument
from models.case import AddRecords, DocumentRef, EligibilityFacts, RecordType
from models.intake import PatientIntake
from runtime.db import audit
from starter import ops
from web.errors import validation_message
from web.portal import member
from web.portal.base import PORTAL, PageError, Portal
from web.portal.links import Member
from web.portal.pages import render
from web.uploads import UploadRefused, check_file_name, store_stream
from workflows.smo_case import SmoCaseWorkflow

FORM_COOKIE = "smo_form"
FIELDS = ("policy_number", "patient_name", "date_of_birth", "email", "phone", "diagnosis_text", "icd10")
# "ICD-10 code if known": without one the request is filed as R69, illness unspecified.
UNKNOWN_ICD10 = "R69"


def _program(portal: Portal, name: str) -> Any:
    program = portal.api.programs.get(name)
    if program is None or not program.portal_intake:
        raise PageError(404, "This programme does not take requests online. Please call the desk.")
    return program


async def form(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL]
    program = _program(portal, request.match_info["program"])
    nonce = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        "intake.html",
        program=program,
        csrf=portal.links.csrf_token("intake:" + nonce),
        record_types=member.MEMBER_RECORD_TYPES,
    )
    response.set_cookie(
        FORM_COOKIE,
        nonce,
        path="/portal/request",
        httponly=True,
        secure=portal.secure_cookies,
        samesite="Strict",
    )
    return response


async def submit(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL]
    if not portal.sign_in_limit.allow(request.remote or "?"):
        raise PageError(429, "Too many attempts from your connection. Please wait a few minutes.")
    program = _program(portal, request.match_info["program"])
    reader = await request.multipart()
    nonce = request.cookies.get(FORM_COOKIE, "")
    if not nonce or not portal.links.csrf_ok("intake:" + nonce, await member.read_field(reader, "csrf")):
        raise PageError(403, "This form has expired. Reload the page and try again.")
    values = {name: await member.read_field(reader, name) for name in (*FIELDS, "record_type")}
    try:
        intake = PatientIntake.model_validate(
            {k: v.strip() for k, v in values.items() if k in FIELDS}
            | {"icd10": values["icd10"].strip().upper() or UNKNOWN_ICD10}
        )
        record_type = RecordType(values["record_type"])
    except ValidationError as exc:
        raise PageError(422, "Please check the form: " + validation_message(exc)) from None
    except ValueError:
        raise PageError(422, "Choose what kind of documents these are.") from None
    if record_type not in member.MEMBER_RECORD_TYPES:
        raise PageError(422, "Choose what kind of documents these are.")
    cap = program.records.document_cap
    stored: list[StoredDocument] = []
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name != "file":
                raise member.Refused(422, "The form was sent incompletely. Reload the page and try again.")
            if not part.filename:
                continue
            try:
                check_file_name(part.filename)
            except UploadRefused as exc:
                raise member.Refused(422, f"That file name cannot be used: {exc}.") from None
            if cap is not None and len(stored) >= cap:
                raise member.Refused(422, f"Your programme accepts up to {cap} documents; nothing was kept.")
            stored.append(await store_stream(portal.api.store, part))
        return await _open(request, portal, program.name, intake, record_type, stored)
    except BaseException:
        await member.discard(portal.api.store, stored)
        raise


async def _open(
    request: web.Request,
    portal: Portal,
    program: str,
    intake: PatientIntake,
    record_type: RecordType,
    stored: list[StoredDocument],
) -> web.StreamResponse:
    client = await portal.api.client()
    opened = await ops.open_case(
        client,
        portal.api.settings,
        portal.api.store,
        program=program,
        intake=intake,
        facts=EligibilityFacts(),
        opened_by="member:portal",
        wait=False,
        consent_required=True,
    )
    case_id = opened.case_id
    who = Member(case_id=case_id, actor=f"member:{case_id}")
    await asyncio.to_thread(
        audit, portal.api.engine, actor=who.actor, action="case.open", outcome="requested", case_id=case_id
    )
    status = await ops.settled_or_current(client, case_id, 30.0)
    if status.eligibility is not None and not status.eligibility.eligible:
        await member.discard(portal.api.store, stored)
        return render("intake_answer.html", 200, status=status, eligible=False)
    if stored:
        refs = [DocumentRef(doc_id=s.doc_id, record_type=record_type, size=s.size) for s in stored]
        await member.act(
            portal.api,
            who,
            SmoCaseWorkflow.add_record,
            AddRecords(documents=refs, by=who.actor),
            "records.add",
        )
    return render("intake_answer.html", 200, status=status, eligible=True)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/request/{program}", form)
    app.router.add_post("/request/{program}", submit)
