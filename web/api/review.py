"""The API's handlers for the specialist's review: assign, decline, stop and restart the clock, report."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

import service
from models.api import ActionResult, AssignBody, DeclineBody, RequestInfoBody, SpecialistId
from models.case import (
    AssignSpecialist,
    Decline,
    DocumentRef,
    RecordType,
    RequestInfo,
    SubmitReport,
    SupplyInfo,
)
from models.opinion import GiveOpinion, Opinion, OpinionBody, OpinionSheet
from web.api.call import Call, update, with_files
from workflows.smo_case import SmoCaseWorkflow


class SupplyQuery(BaseModel):
    record_type: RecordType = RecordType.OTHER


class ReportQuery(BaseModel):
    specialist_id: SpecialistId


async def assign_specialist(call: Call) -> ActionResult:
    b: AssignBody = call.body
    arg = AssignSpecialist(specialist_id=b.specialist_id, by=call.who.name)
    return await update(call, SmoCaseWorkflow.assign_specialist, arg, "specialist.assign")


async def decline_specialist(call: Call) -> ActionResult:
    b: DeclineBody = call.body
    arg = Decline(specialist_id=b.specialist_id, reason=b.reason, by=call.who.name)
    return await update(call, SmoCaseWorkflow.decline, arg, "specialist.decline")


async def request_info(call: Call) -> ActionResult:
    b: RequestInfoBody = call.body
    arg = RequestInfo(reason=b.reason, record_types=b.record_types, by=call.who.name)
    return await update(call, SmoCaseWorkflow.request_more_info, arg, "info.request")


async def supply_info(call: Call) -> ActionResult:
    def arg(refs: list[DocumentRef]) -> SupplyInfo:
        return SupplyInfo(documents=refs, by=call.who.name)

    return await with_files(call, call.query.record_type, SmoCaseWorkflow.supply_info, arg, "info.supply")


async def submit_report(call: Call) -> ActionResult:
    """The report file; the member's part of the opinion, if any, went first (`give_opinion`)."""
    q: ReportQuery = call.query

    def arg(refs: list[DocumentRef]) -> SubmitReport:
        return SubmitReport(document=refs[0], specialist_id=q.specialist_id, by=call.who.name)

    return await with_files(call, RecordType.SMO_REPORT, SmoCaseWorkflow.submit_report, arg, "report.submit")


async def give_opinion(call: Call) -> ActionResult:
    """The member's summary and answers (stored encrypted) and the outcome, ahead of the report."""
    b: OpinionBody = call.body
    call.check_running()
    store, stored = call.backends.store, []
    translate_to = None
    if b.summary.strip() or b.answers:
        # A member who reads Khmer gets the summary translated once the report is out.
        case = await call.backends.case_status(call.case_id, call.case)
        translate_to = await service.summary_language(store, case)
        sheet = OpinionSheet(summary=b.summary, answers=b.answers).model_dump_json().encode()
        stored.append(await asyncio.to_thread(store.put_bytes, sheet, call.case_id))
    opinion = Opinion(
        sheet_doc_id=stored[0].doc_id if stored else None,
        answers=len(b.answers),
        outcome=b.outcome,
        translate_to=translate_to,
    )
    arg = GiveOpinion(specialist_id=b.specialist_id, opinion=opinion, by=call.who.name)
    return await service.claim(
        store, stored, lambda: update(call, SmoCaseWorkflow.give_opinion, arg, "opinion.give")
    )
