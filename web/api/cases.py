"""The API's handlers for a case as a whole: open, list, status, details, close, cancel, override."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field

import service
from models.api import ActionResult, CaseList, OpenCase, ReasonBody
from models.case import Cancel, CaseStatus, Close, OverrideEligibility, Stage, UpdateDetails
from models.intake import PatientIntake
from models.portal import SendPortalLink
from web.api.call import Call, update
from web.errors import WebError
from workflows.smo_case import SmoCaseWorkflow


class ListQuery(BaseModel):
    stage: Stage | None = None
    program: str | None = Field(default=None, max_length=40)
    overdue: bool = False
    due_within: str | None = Field(default=None, max_length=20, description="e.g. 2d, 36h, 1w")
    limit: int = Field(default=100, ge=1, le=1000)


async def open_case(call: Call) -> CaseStatus:
    body: OpenCase = call.body
    if not call.who.may_see(body.program):
        raise WebError(403, f"your token is not for program {body.program}")
    if body.case_id and call.who.programs:
        # A chosen id that belongs to a case out of scope is refused without saying more.
        desc = await service.describe(await call.backends.client(), body.case_id)
        if desc is not None and not call.who.may_see(service.program_of(desc)):
            raise WebError(409, f"case id {body.case_id} is not available; choose another")
    service.check_program_input(call.backends.programs, body.program, sorted(body.facts.exclusions))
    client = await call.backends.client()
    status = await service.open_case(
        client,
        call.backends.settings,
        call.backends.store,
        program=body.program,
        intake=body.details,
        facts=body.facts,
        opened_by=call.who.name,
        case_id=body.case_id,
        treating_institution=body.treating_institution,
        follow_up_of=body.follow_up_of,
        override_reason=body.override_reason,
        wait=False,
    )
    # The eligibility answer, when the case gives it within the bound; else the stage it is at.
    status = await service.settled_or_current(client, status.case_id, call.backends.update_wait)
    call.case_id = status.case_id
    await call.audit("case.open", status.stage.value)
    return status


async def case_status(call: Call) -> CaseStatus:
    return await service.status(await call.backends.client(), call.case_id)


async def list_cases(call: Call) -> CaseList:
    q: ListQuery = call.query
    query = service.list_query(
        stage=q.stage,
        program=q.program,
        overdue=q.overdue,
        due_within=service.parse_duration(q.due_within) if q.due_within else None,
        scope=call.who.programs,
    )
    return CaseList(cases=await service.list_cases(await call.backends.client(), query, q.limit))


async def update_details(call: Call) -> ActionResult:
    intake: PatientIntake = call.body
    call.check_running()
    store = call.backends.store
    stored = await asyncio.to_thread(store.put_intake, intake)
    arg = UpdateDetails(intake_doc_id=stored.doc_id, by=call.who.name)
    # A refused update leaves no PHI behind.
    return await service.claim(
        store, [stored], lambda: update(call, SmoCaseWorkflow.update_details, arg, "case.update_details")
    )


async def send_portal_link(call: Call) -> ActionResult:
    arg = SendPortalLink(by=call.who.name)
    return await update(call, SmoCaseWorkflow.send_portal_link, arg, "portal.link")


async def close_case(call: Call) -> ActionResult:
    return await update(call, SmoCaseWorkflow.close, Close(by=call.who.name), "case.close")


async def cancel_case(call: Call) -> ActionResult:
    b: ReasonBody = call.body
    arg = Cancel(reason=b.reason, by=call.who.name)
    return await update(call, SmoCaseWorkflow.cancel, arg, "case.cancel")


async def override_eligibility(call: Call) -> ActionResult:
    b: ReasonBody = call.body
    arg = OverrideEligibility(reason=b.reason, by=call.who.name)
    return await update(call, SmoCaseWorkflow.override_eligibility, arg, "eligibility.override")
