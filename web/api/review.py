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
from models.opinion import Diagnosis, Opinion, Outcome, Treatment
from web.api.call import Call, update, with_files
from web.errors import WebError
from web.opinion_form import ANSWERS_BYTES, SUMMARY_BYTES, json_answers, opinion_sheet
from web.uploads import API, MultipartForm
from workflows.smo_case import SmoCaseWorkflow


class SupplyQuery(BaseModel):
    record_type: RecordType = RecordType.OTHER


class ReportQuery(BaseModel):
    """The report's specialist; with the outcome (diagnosis and treatment, both), the body's
    first parts are the member's `summary` and `answers` (a JSON list, one per question)."""

    specialist_id: SpecialistId
    diagnosis: Diagnosis | None = None
    treatment: Treatment | None = None
    surgery_avoided: bool = False


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
    """The report file, after the member's `summary` and `answers` parts when there are any; the
    outcome (diagnosis and treatment, both or neither) comes in the query."""
    q: ReportQuery = call.query
    if (q.diagnosis is None) != (q.treatment is None):
        raise WebError(422, "query: the outcome names both the diagnosis and the treatment")
    call.check_running()
    outcome = None
    if q.diagnosis is not None and q.treatment is not None:
        outcome = Outcome(diagnosis=q.diagnosis, treatment=q.treatment, surgery_avoided=q.surgery_avoided)
    store = call.backends.store
    form = await MultipartForm.of(call.request, API)
    summary = await form.optional_field("summary", SUMMARY_BYTES) or ""
    answers = json_answers(await form.optional_field("answers", ANSWERS_BYTES) or "")
    stored = []
    sheet = opinion_sheet(summary, answers) if summary.strip() or answers else None
    if sheet is not None:
        data = sheet.model_dump_json().encode()
        stored.append(await asyncio.to_thread(store.put_bytes, data, call.case_id))
    try:
        stored += await form.store_files(
            store, case_id=call.case_id, most=1, too_many="send one report file", least=1,
            too_few="send the report file",
        )  # fmt: skip
    except WebError:
        await service.discard(store, stored)
        raise
    opinion = None
    if sheet is not None or outcome is not None:
        doc_id = stored[0].doc_id if sheet is not None else None
        opinion = Opinion(sheet_doc_id=doc_id, answers=len(sheet.answers) if sheet else 0, outcome=outcome)
    report = service.refs(stored[-1:], RecordType.SMO_REPORT)[0]
    sent = SubmitReport(document=report, specialist_id=q.specialist_id, by=call.who.name, opinion=opinion)
    return await service.claim(
        store, stored, lambda: update(call, SmoCaseWorkflow.submit_report, sent, "report.submit")
    )
