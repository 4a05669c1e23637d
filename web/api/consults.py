"""The API's handlers after the report: the telephone consult and a third opinion (both may be billed)."""

from __future__ import annotations

from models.api import ActionResult, BookConsultBody
from models.case import BookConsult, CompleteConsult, RequestThirdOpinion
from web.api.call import Call, update
from workflows.smo_case import SmoCaseWorkflow


async def book_consult(call: Call) -> ActionResult:
    b: BookConsultBody = call.body
    arg = BookConsult(slot=b.slot, by=call.who.name)
    return await update(call, SmoCaseWorkflow.book_consult, arg, "consult.book")


async def complete_consult(call: Call) -> ActionResult:
    arg = CompleteConsult(by=call.who.name)
    return await update(call, SmoCaseWorkflow.complete_consult, arg, "consult.complete")


async def third_opinion(call: Call) -> ActionResult:
    arg = RequestThirdOpinion(by=call.who.name)
    return await update(call, SmoCaseWorkflow.request_third_opinion, arg, "case.third_opinion")
