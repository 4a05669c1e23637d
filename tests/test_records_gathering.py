"""Records gathered for the member, on the time-skipping test server: a release, a request to a
hospital chased on KH working days, its uploads, a Khmer record and its translation, and the
completeness check that decides when the case moves on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models.case import AddRecords, CaseStatus, CompleteRecords, RecordType, Stage
from models.records import (
    Gathering,
    ProviderRequest,
    ProviderSheet,
    Release,
    ReleaseSource,
    RequestState,
    Translation,
    provider_key,
)
from models.records_check import short
from models.records_updates import RecordRelease, RequestRecords, RevokeRelease
from runtime.outbox import read_outbox
from tests import scenario
from worker import Services
from workflows.smo_case import SmoCaseWorkflow

CALMETTE = "Calmette Hospital"
ASKED = [RecordType.OPERATIVE_REPORT, RecordType.BIOPSY_REPORT]


def mail_to(services: Services, case_id: str, address: str) -> list[EmailMessage]:
    return [
        m
        for m in read_outbox(services.settings.outbox_dir)
        if m["X-SMO-Case-Id"] == case_id and m["To"] == address
    ]


def text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


async def release(handle: scenario.Handle, services: Services, *, provider: str = CALMETTE) -> None:
    case_id = scenario.case_of(handle)
    paper = scenario.upload(services, b"signed release, scanned", RecordType.CONSENT, case_id)
    today = datetime.now(UTC).date()
    await handle.execute_update(
        SmoCaseWorkflow.record_release,
        RecordRelease(
            provider_key=provider_key(provider),
            document=paper,
            expires_on=today + timedelta(days=180),
            by="desk",
        ),
    )


def request_for(services: Services, case_id: str, provider: str = CALMETTE) -> RequestRecords:
    sheet = ProviderSheet(name=provider, email="records@calmette.example.com")
    stored = services.store.put_bytes(sheet.model_dump_json().encode(), case_id)
    return RequestRecords(
        provider_key=provider_key(provider), provider_doc_id=stored.doc_id, types=ASKED, by="desk"
    )


async def asked_the_hospital(env: WorkflowEnvironment, services: Services, case_id: str) -> scenario.Handle:
    """A case gathering records, a release for the hospital, and a request to it."""
    handle = await scenario.start(env.client, services.settings, scenario.case_input(services, case_id))
    await scenario.until(env, handle, Stage.GATHERING_RECORDS)
    await release(handle, services)
    await handle.execute_update(SmoCaseWorkflow.request_records, request_for(services, case_id))
    return handle


async def skip_until(
    env: WorkflowEnvironment, handle: scenario.Handle, test: object, what: str
) -> CaseStatus:
    """Skip time a day at a time (at most 30) until the case's status passes `test`."""
    assert callable(test)
    for _ in range(30):
        current = await scenario.status(handle)
        if test(current):
            return current
        await env.sleep(timedelta(days=1))
    raise AssertionError(f"never saw {what}: {current.gathering}")


async def test_a_hospital_asked_under_a_release_is_chased_sends_in_parts_and_a_khmer_record_waits_for_english(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    case_id = "KH-GATHER-1"
    handle = await scenario.start(ts_env.client, services.settings, scenario.case_input(services, case_id))
    await scenario.until(ts_env, handle, Stage.GATHERING_RECORDS)

    # No release yet: the request is refused, and nothing is sent.
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(SmoCaseWorkflow.request_records, request_for(services, case_id))
    assert "no release in force for this provider" in str(refused.value.cause)

    await release(handle, services)
    await handle.execute_update(
        SmoCaseWorkflow.request_records, request_for(services, case_id, "calmette  hospital.")
    )
    sent = await scenario.settled(handle)
    assert sent.gathering is not None
    (request,) = sent.gathering.requests
    assert (request.state, request.types, request.release_no) == (RequestState.SENT, ASKED, 1)
    (asked,) = mail_to(services, case_id, "records@calmette.example.com")
    body = text(asked)
    assert "/portal/providers/KH-GATHER-1/1/" in body and "Operation report, Biopsy report" in body

    # Two reminders on KH working days, and the member is not chased meanwhile.
    reminded = await skip_until(
        ts_env, handle, lambda s: s.gathering.requests[0].reminders == 2, "2 reminders"
    )
    assert reminded.gathering is not None and reminded.gathering.requests[0].state is RequestState.REMINDED
    assert not reminded.gathering.requests[0].escalated
    assert len(mail_to(services, case_id, "records@calmette.example.com")) == 3
    assert not any(t.event == "records reminder" for t in reminded.timeline)

    # The hospital sends the operative report first, then the biopsy report.
    part = scenario.upload(services, b"operative report", RecordType.OPERATIVE_REPORT, case_id)
    await handle.execute_update(
        SmoCaseWorkflow.add_record, AddRecords(documents=[part], by="provider:1", request_no=1)
    )
    assert (await scenario.status(handle)).gathering.requests[0].state is RequestState.PARTIAL  # type: ignore[union-attr]
    with pytest.raises(WorkflowUpdateFailedError) as outside:
        plan = scenario.upload(services, b"plan", RecordType.TREATMENT_PLAN, case_id)
        await handle.execute_update(
            SmoCaseWorkflow.add_record, AddRecords(documents=[plan], by="provider:1", request_no=1)
        )
    assert "not asked for in this request: treatment_plan" in str(outside.value.cause)
    rest = scenario.upload(services, b"biopsy report", RecordType.BIOPSY_REPORT, case_id)
    await handle.execute_update(
        SmoCaseWorkflow.add_record, AddRecords(documents=[rest], by="provider:1", request_no=1)
    )
    received = await scenario.status(handle)
    assert received.gathering is not None and received.gathering.requests[0].state is RequestState.RECEIVED

    # A discharge summary in Khmer: it counts once its English version is linked to it.
    khmer = scenario.upload(services, b"discharge summary (km)", RecordType.DISCHARGE_SUMMARY, case_id)
    khmer = khmer.model_copy(update={"language": "km", "dated": datetime.now(UTC).date()})
    plan = scenario.upload(services, b"treatment plan", RecordType.TREATMENT_PLAN, case_id)
    await handle.execute_update(SmoCaseWorkflow.add_record, AddRecords(documents=[khmer, plan], by="desk"))
    await scenario.attest_consent(handle, services)
    waiting = await scenario.settled(handle)
    assert waiting.records_unmet == [f"translation:{short(khmer.doc_id)}"]
    with pytest.raises(WorkflowUpdateFailedError) as incomplete:
        await handle.execute_update(SmoCaseWorkflow.mark_records_complete, CompleteRecords(by="desk"))
    assert f"translation:{short(khmer.doc_id)}" in str(incomplete.value.cause)
    (task,) = mail_to(services, case_id, services.settings.translator_email)
    assert f"/portal/translations/KH-GATHER-1/{khmer.doc_id}/" in text(task)

    english = scenario.upload(services, b"discharge summary (en)", RecordType.DISCHARGE_SUMMARY, case_id)
    english = english.model_copy(update={"language": "en", "translation_of": khmer.doc_id})
    await handle.execute_update(SmoCaseWorkflow.add_record, AddRecords(documents=[english], by="translator"))
    assert (await scenario.status(handle)).records_unmet == []
    before = await scenario.status(handle)
    assert before.sla.day0 is None  # the clock waits on complete records
    await handle.execute_update(SmoCaseWorkflow.mark_records_complete, CompleteRecords(by="desk"))
    moved = await scenario.when(handle, lambda s: s.stage is not Stage.GATHERING_RECORDS, "records complete")
    assert moved.stage in (Stage.ASSIGNING_SPECIALIST, Stage.UNDER_REVIEW)
    assert any(t.event == "records complete" for t in moved.timeline)


async def test_a_hospital_that_never_answers_is_escalated_to_the_desk_after_its_reminders(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    case_id = "KH-GATHER-2"
    handle = await asked_the_hospital(ts_env, services, case_id)
    escalated = await skip_until(ts_env, handle, lambda s: s.gathering.requests[0].escalated, "escalation")
    assert escalated.gathering is not None and escalated.gathering.requests[0].reminders == 2
    assert escalated.attention == "provider request 1 unanswered after 2 reminders"
    told = await scenario.settled(handle)
    assert told.stage is Stage.GATHERING_RECORDS  # the case waits on the desk, it does not lapse
    desk = mail_to(services, case_id, services.settings.coordinator_email)
    assert any("provider request 1 unanswered" in text(m) for m in desk)


async def test_revoking_a_release_stops_its_request_and_a_request_under_it_is_refused(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    case_id = "KH-GATHER-3"
    handle = await asked_the_hospital(ts_env, services, case_id)
    await handle.execute_update(SmoCaseWorkflow.revoke_release, RevokeRelease(release_no=1, by="member"))
    revoked = await scenario.status(handle)
    assert revoked.gathering is not None
    assert revoked.gathering.requests[0].state is RequestState.REVOKED
    assert revoked.gathering.releases[0].revoked_at is not None
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(SmoCaseWorkflow.request_records, request_for(services, case_id))
    assert "no release in force" in str(refused.value.cause)
    part = scenario.upload(services, b"operative report", RecordType.OPERATIVE_REPORT, case_id)
    with pytest.raises(WorkflowUpdateFailedError) as ended:
        await handle.execute_update(
            SmoCaseWorkflow.add_record, AddRecords(documents=[part], by="provider:1", request_no=1)
        )
    assert "this request has ended" in str(ended.value.cause)


def test_what_a_gathering_case_waits_on_is_the_open_request_then_a_translation_then_the_member() -> None:
    sent = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    today = sent.date()
    release = Release(
        release_no=1,
        provider_key=provider_key(CALMETTE),
        document_id="a" * 64,
        expires_on=today + timedelta(days=30),
        source=ReleaseSource.PAPER,
        signed_by="desk",
        signed_at=sent,
    )
    request = ProviderRequest(
        request_no=1,
        release_no=1,
        provider_key=provider_key(CALMETTE),
        provider_doc_id="b" * 64,
        types=ASKED,
        sent_at=sent,
        reminders=1,
        by="desk",
    )
    translation = Translation(doc_id="c" * 64, language="km", opened_at=sent)
    gathering = Gathering(releases=[release], requests=[request], translations=[translation])
    assert gathering.waiting_on(True, today) == "provider request 1 since 2026-12-07, 1 reminder(s)"
    request.state = RequestState.RECEIVED
    assert gathering.waiting_on(True, today) == "translation of cccccccccccc"
    translation.translation_doc_id = "d" * 64
    assert gathering.waiting_on(True, today) is None  # a release in force: the desk can ask
    assert gathering.waiting_on(True, today + timedelta(days=31)) == "records or a release from the member"
    assert gathering.waiting_on(False, today + timedelta(days=31)) is None
