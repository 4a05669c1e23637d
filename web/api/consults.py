"""The API's handlers after the report: the telephone consult and a third opinion (both may be billed).

The slots, the slot rule's check and the hold are the case service's (`service.consults`), as
the portal's booking is: here a refused slot is a 422 with the rule's words, a case before its
report a 409.
"""

from __future__ import annotations

from datetime import timedelta

import service
from models.api import ActionResult, BookConsultBody, ConsultSlots
from models.case import RequestThirdOpinion
from web.api.call import Call, acknowledged, update
from workflows.smo_case import SmoCaseWorkflow


def _wait(call: Call) -> timedelta:
    return timedelta(seconds=call.backends.update_wait)


async def consult_slots(call: Call) -> ConsultSlots:
    backends = call.backends
    return await service.consult_slots(
        await backends.client(), backends.engine, backends.settings, call.case_id
    )


async def book_consult(call: Call) -> ActionResult:
    b: BookConsultBody = call.body
    call.check_running()
    backends = call.backends
    ack = await service.book_consult(
        await backends.client(),
        backends.engine,
        backends.settings,
        call.case_id,
        b.slot,
        call.who.name,
        "consult.book",
        _wait(call),
    )
    return acknowledged(call, ack)


async def complete_consult(call: Call) -> ActionResult:
    call.check_running()
    backends = call.backends
    ack = await service.complete_consult(
        await backends.client(), backends.engine, call.case_id, call.who.name, "consult.complete", _wait(call)
    )
    return acknowledged(call, ack)


async def third_opinion(call: Call) -> ActionResult:
    arg = RequestThirdOpinion(by=call.who.name)
    return await update(call, SmoCaseWorkflow.request_third_opinion, arg, "case.third_opinion")
