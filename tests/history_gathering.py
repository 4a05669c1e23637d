"""The recorded history of a case whose records came from a hospital (tests/record_histories.py).

A release, a request chased once, the hospital's upload, a Khmer record and its English
translation, then the review, the report, the free consult and the close: the replay tests
keep the gathering's commands (its local activities, timers and notices) deterministic.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from models.case import AddRecords, CompleteRecords, RecordType, Stage
from models.records import ProviderSheet, provider_key
from models.records_updates import RecordRelease, RequestRecords
from tests import scenario
from workflows.smo_case import SmoCaseWorkflow

if TYPE_CHECKING:
    from tests.record_histories import Stack


async def prudential_records_from_a_hospital(s: Stack) -> list[str]:
    from tests.record_histories import _close, _consult, _open, _report_and_deliver

    name = "prudential-records-from-a-hospital"
    handle = await _open(s, name)
    case_id = scenario.case_of(handle)
    await scenario.until(s.env, handle, Stage.GATHERING_RECORDS)
    paper = scenario.upload(s.services, b"signed release", RecordType.CONSENT, case_id)
    today = (await s.env.get_current_time()).date()
    key = provider_key("Calmette Hospital")
    await handle.execute_update(
        SmoCaseWorkflow.record_release,
        RecordRelease(provider_key=key, document=paper, expires_on=today + timedelta(days=90), by="c"),
    )
    sheet = ProviderSheet(name="Calmette Hospital", email="records@calmette.example.com")
    stored = s.services.store.put_bytes(sheet.model_dump_json().encode(), case_id)
    asked = [RecordType.OPERATIVE_REPORT, RecordType.BIOPSY_REPORT]
    await handle.execute_update(
        SmoCaseWorkflow.request_records,
        RequestRecords(provider_key=key, provider_doc_id=stored.doc_id, types=asked, by="c"),
    )
    await s.env.sleep(timedelta(days=5))  # one reminder to the hospital
    sent = [scenario.upload(s.services, f"{t.value}".encode(), t, case_id) for t in asked]
    await handle.execute_update(
        SmoCaseWorkflow.add_record, AddRecords(documents=sent, by="provider:1", request_no=1)
    )
    khmer = scenario.upload(s.services, b"discharge summary (km)", RecordType.DISCHARGE_SUMMARY, case_id)
    khmer = khmer.model_copy(update={"language": "km"})
    plan = scenario.upload(s.services, b"treatment plan", RecordType.TREATMENT_PLAN, case_id)
    await handle.execute_update(SmoCaseWorkflow.add_record, AddRecords(documents=[khmer, plan], by="c"))
    english = scenario.upload(s.services, b"discharge summary (en)", RecordType.DISCHARGE_SUMMARY, case_id)
    english = english.model_copy(update={"language": "en", "translation_of": khmer.doc_id})
    await handle.execute_update(SmoCaseWorkflow.add_record, AddRecords(documents=[english], by="translator"))
    await scenario.attest_consent(handle, s.services)
    await handle.execute_update(SmoCaseWorkflow.mark_records_complete, CompleteRecords(by="c"))
    review = await scenario.until(s.env, handle, Stage.UNDER_REVIEW)
    assert review.specialist_id
    await _report_and_deliver(s, handle, review.specialist_id)
    await _consult(s, handle, "free")
    await _close(handle)
    return [name]
