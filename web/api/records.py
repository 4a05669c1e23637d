"""The API's handlers for a case's records: upload them, declare them complete, attest consent."""

from __future__ import annotations

from models.api import ActionResult, CompleteRecordsBody
from models.api_records import RecordsQuery
from models.case import AddRecords, CompleteRecords, DocumentRef, RecordType
from models.consent import GiveConsent
from web.api.call import Call, update, with_files
from workflows.smo_case import SmoCaseWorkflow


async def add_records(call: Call) -> ActionResult:
    q: RecordsQuery = call.query
    facts = {"language": q.language, "dated": q.dated, "translation_of": q.translation_of}

    def arg(refs: list[DocumentRef]) -> AddRecords:
        return AddRecords(documents=[r.model_copy(update=facts) for r in refs], by=call.who.name)

    return await with_files(call, call.query.record_type, SmoCaseWorkflow.add_record, arg, "records.add")


async def complete_records(call: Call) -> ActionResult:
    b: CompleteRecordsBody = call.body
    arg = CompleteRecords(
        waive=b.waive, waive_checks=b.waive_checks, waive_reason=b.waive_reason, by=call.who.name
    )
    return await update(call, SmoCaseWorkflow.mark_records_complete, arg, "records.complete")


async def record_consent(call: Call) -> ActionResult:
    """The member's signed consent form, stored as a `consent` document, attests their consent."""

    def arg(refs: list[DocumentRef]) -> GiveConsent:
        return GiveConsent.signed_form(refs[0].doc_id, refs[0].size, call.who.name)

    return await with_files(call, RecordType.CONSENT, SmoCaseWorkflow.give_consent, arg, "consent.record")
