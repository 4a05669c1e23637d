"""The API's handlers after the report: the telephone consult and a third opinion (both may be billed).

The slots, the slot rule's check, the hold, a move, a cancel and the member's hours are the
case service's (`service.consults`), as the portal's are: here a refused slot (a move or a
cancel inside the notice too) is a 422 with the rule's words, a case that refuses a 409. The
consult a move or a cancel means is named in the path by its number, so a repeated call never
moves the next one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

import service
from models.api import (
    ActionResult,
    BookConsultBody,
    CompleteConsultBody,
    ConsultHours,
    ConsultHoursBody,
    ConsultNumber,
    ConsultSlots,
    RescheduleConsultBody,
)
from models.case import RequestThirdOpinion, UpdateAck
from runtime.consult_holds import MemberHours
from web.api.call import Call, acknowledged, update
from web.errors import WebError, validation_message
from workflows.smo_case import SmoCaseWorkflow


def _wait(call: Call) -> timedelta:
    return timedelta(seconds=call.backends.update_wait)


def _number(call: Call) -> int:
    """The consult number in the path (the route's `params`), checked as a body is (422)."""
    try:
        return ConsultNumber.model_validate({"number": call.request.match_info["number"]}).number
    except ValidationError as exc:
        raise WebError(422, validation_message(exc, "path")) from None


async def consult_slots(call: Call) -> ConsultSlots:
    backends = call.backends
    return await service.consult_slots(
        await backends.client(), backends.engine, backends.settings, call.case_id
    )


async def _slot_change(
    call: Call, change: Callable[..., Awaitable[UpdateAck | None]], action: str, *args: Any
) -> ActionResult:
    """A booking, a move or a cancel through the case service, as the token's user: `change`
    takes the client, the case DB, the settings, the case, `args`, the actor, the action, the wait."""
    call.check_running()
    b = call.backends
    ack = await change(
        await b.client(), b.engine, b.settings, call.case_id, *args, call.who.name, action, _wait(call)
    )
    return acknowledged(call, ack)


async def book_consult(call: Call) -> ActionResult:
    b: BookConsultBody = call.body
    return await _slot_change(call, service.book_consult, "consult.book", b.slot)


async def reschedule_consult(call: Call) -> ActionResult:
    b: RescheduleConsultBody = call.body
    number = _number(call)
    return await _slot_change(call, service.reschedule_consult, "consult.reschedule", number, b.slot)


async def cancel_consult(call: Call) -> ActionResult:
    return await _slot_change(call, service.cancel_consult, "consult.cancel", _number(call))


async def complete_consult(call: Call) -> ActionResult:
    b: CompleteConsultBody = call.body
    call.check_running()
    backends = call.backends
    ack = await service.complete_consult(
        await backends.client(),
        backends.engine,
        call.case_id,
        call.who.name,
        "consult.complete",
        _wait(call),
        outcome=b.outcome,
    )
    return acknowledged(call, ack)


async def member_hours(call: Call) -> ConsultHours:
    found = await service.member_hours(call.backends.engine, call.case_id)
    return ConsultHours(case_id=call.case_id, zone=found.zone, hours=found.hours)


async def set_member_hours(call: Call) -> ConsultHours:
    b: ConsultHoursBody = call.body
    call.check_running()
    hours = MemberHours(b.zone, b.hours)
    await service.set_member_hours(call.backends.engine, call.case_id, hours, call.who.name)
    return await member_hours(call)


async def third_opinion(call: Call) -> ActionResult:
    arg = RequestThirdOpinion(by=call.who.name)
    return await update(call, SmoCaseWorkflow.request_third_opinion, arg, "case.third_opinion")
