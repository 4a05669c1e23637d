"""The API's handlers for a case as a whole: open, list, status, details, close, cancel, override."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, Field

import service
from models.api import (
    ActionResult,
    CaseList,
    DetailsChange,
    DetailsReplacement,
    OpenCase,
    ProgramName,
    ReasonBody,
)
from models.case import Cancel, CaseStatus, Close, OverrideEligibility, Stage, UpdateDetails
from models.portal import SendPortalLink
from models.retention import CaseView
from service.listing import DURATION_PATTERN
from web.api.call import Call, acknowledged, update
from web.api.retention import with_retention
from web.errors import WebError
from workflows.smo_case import SmoCaseWorkflow


class ListQuery(BaseModel):
    stage: Stage | None = None
    program: ProgramName | None = None
    overdue: bool = False
    # Checked by `parse_duration`, whose refusal explains the form; the schema states the pattern.
    due_within: (
        Annotated[str, Field(max_length=20, json_schema_extra={"pattern": DURATION_PATTERN})] | None
    ) = Field(default=None, description="minutes, hours, days or weeks: 2d, 36h, 1w")
    attention: bool = Field(default=False, description="only cases that ask the desk to look at them")
    limit: int = Field(default=100, ge=1, le=1000)


def check_program(call: Call, program: str, field: str) -> None:
    """An unknown program is a mistake (422), never an empty answer; the name is not repeated."""
    if program not in call.backends.programs:
        known = ", ".join(sorted(call.backends.programs))
        raise WebError(422, f"{field}: not a program of this service (known: {known})")


async def open_case(call: Call) -> CaseStatus:
    body: OpenCase = call.body
    check_program(call, body.program, "body.program")
    if not call.who.may_see(body.program):
        raise WebError(403, "your token is not for that program")
    if body.case_id and call.who.programs:
        # A chosen id that belongs to a case out of scope is refused without saying more.
        desc = await service.describe(await call.backends.client(), body.case_id)
        if desc is not None and not call.who.may_see(service.program_of(desc)):
            raise WebError(409, "that case id is not available; choose another")
    try:
        service.check_program_input(call.backends.programs, body.program, sorted(body.facts.exclusions))
    except service.UserError:
        # The program is known by now: the refusal is an exclusion (its message names them).
        known = ", ".join(call.backends.programs[body.program].exclusion_aliases())
        message = f"body.facts.exclusions: not an exclusion of the program (known: {known})"
        raise WebError(422, message) from None
    client = await call.backends.client()
    try:
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
    except service.CaseConflict:
        # Opening refuses only a chosen id that another case has (its message names the id).
        message = "that case id is already open with different details, or taken by a finished case"
        raise WebError(409, message + "; choose another") from None
    # The eligibility answer, when the case gives it within the bound; else the stage it is at.
    status = await service.settled_or_current(client, status.case_id, call.backends.update_wait)
    call.case_id = status.case_id
    await call.audit("case.open", status.stage.value)
    return status


async def case_status(call: Call) -> CaseView:
    return await with_retention(call, await call.backends.case_status(call.case_id, call.case))


async def list_cases(call: Call) -> CaseList:
    q: ListQuery = call.query
    if q.program is not None:
        check_program(call, q.program, "query.program")
    where = service.case_filter(
        stage=q.stage,
        program=q.program,
        overdue=q.overdue,
        due_within=_duration(q.due_within) if q.due_within is not None else None,
        attention=q.attention,
        scope=call.who.programs,
    )
    return CaseList(cases=await service.list_cases(call.backends.views, where, q.limit))


def _duration(text: str) -> timedelta:
    try:
        return service.parse_duration(text)
    except service.UserError as exc:
        raise WebError(422, f"query.due_within: {exc}") from None


# What a replacement sheet that leaves them out keeps from the case's own sheet: a desk
# re-typing the member's details must not turn a Khmer case into an English one unawares.
KEPT_UNLESS_GIVEN = ("language", "sex")


async def update_details(call: Call) -> ActionResult:
    intake: DetailsReplacement = call.body
    call.check_running()
    store = call.backends.store
    kept = [name for name in KEPT_UNLESS_GIVEN if name not in intake.model_fields_set]
    current = await service.current_details(await call.backends.client(), store, call.case_id)
    # The member's questions are those asked when the case opened: the case counts them.
    kept.append("questions")
    intake = intake.model_copy(update={name: getattr(current, name) for name in kept})
    stored = await asyncio.to_thread(store.put_intake, intake, call.case_id)
    arg = UpdateDetails(intake_doc_id=stored.doc_id, by=call.who.name)
    # A refused update leaves no PHI behind.
    return await service.claim(
        store, [stored], lambda: update(call, SmoCaseWorkflow.update_details, arg, "case.update_details")
    )


async def change_details(call: Call) -> ActionResult:
    """Some of the member's details (language, email, phone); the rest of the sheet stays."""
    body: DetailsChange = call.body
    changes = body.changes()
    call.check_running()
    backends = call.backends
    ack = await service.change_details(
        await backends.client(),
        backends.engine,
        backends.store,
        case_id=call.case_id,
        actor=call.who.name,
        changes=changes,
        # The desk's trail names a change of language apart: every notice follows it.
        action="case.language" if changes.keys() == {"language"} else "case.update_details",
        wait=timedelta(seconds=backends.update_wait),
    )
    return acknowledged(call, ack)


async def send_portal_link(call: Call) -> ActionResult:
    arg = SendPortalLink(by=call.who.name)
    return await update(call, SmoCaseWorkflow.send_portal_link, arg, "portal.link")


async def close_case(call: Call) -> ActionResult:
    result = await update(call, SmoCaseWorkflow.close, Close(by=call.who.name), "case.close")
    await service.release_consults(call.backends.engine, call.case_id)  # a consult never held
    return result


async def cancel_case(call: Call) -> ActionResult:
    b: ReasonBody = call.body
    arg = Cancel(reason=b.reason, by=call.who.name)
    result = await update(call, SmoCaseWorkflow.cancel, arg, "case.cancel")
    await service.release_consults(call.backends.engine, call.case_id)  # accepted: the case ends
    if not result.done:
        return result
    # The update answers as it takes the request, from the stage before; the case then ends.
    # The answer is the stage after, as `GET` will show it.
    client = await call.backends.client()
    try:
        after = await service.wait_for_stage(
            client, call.case_id, [Stage.CANCELLED], timeout=call.backends.update_wait
        )
    except service.CaseConflict:
        call.status = 202
        return result.model_copy(update={"stage": None, "detail": "accepted; cancelling", "done": False})
    return result.model_copy(update={"stage": after.stage})


async def override_eligibility(call: Call) -> ActionResult:
    b: ReasonBody = call.body
    arg = OverrideEligibility(reason=b.reason, by=call.who.name)
    return await update(call, SmoCaseWorkflow.override_eligibility, arg, "eligibility.override")
