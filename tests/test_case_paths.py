"""Every stage and every terminal path of a case, on the time-skipping test server."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import service as ops
from activities.billing import ChargeRequest, ChargeResult, Ledger
from models.case import (
    AddRecords,
    BookConsult,
    Cancel,
    Close,
    CompleteConsult,
    CompleteRecords,
    Decline,
    EligibilityFacts,
    OverrideEligibility,
    RecordType,
    RequestThirdOpinion,
    Stage,
)
from runtime.outbox import read_outbox
from tests import scenario
from worker import Services, build_worker
from workflows.smo_case import SmoCaseWorkflow


def subjects(services: Services, case_id: str) -> list[str]:
    return [
        str(m["Subject"]) for m in read_outbox(services.settings.outbox_dir) if m["X-SMO-Case-Id"] == case_id
    ]


async def test_lapsed_policy_is_refused_and_ends_ineligible_when_nobody_overrides(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    patient = scenario.intake(policy_number="KH-DEMO-0002")
    handle = await scenario.start(
        ts_env.client, services.settings, scenario.case_input(services, "KH-LAPSED", patient=patient)
    )
    refused = await scenario.until(ts_env, handle, Stage.INELIGIBLE)
    assert refused.eligibility is not None
    assert [r.code for r in refused.eligibility.reasons] == ["policy_in_force"]
    result = await handle.result()
    assert result.stage is Stage.INELIGIBLE
    assert any("not eligible" in s for s in subjects(services, "KH-LAPSED"))


async def test_coordinator_override_lets_a_refused_case_proceed(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    inp = scenario.case_input(services, "KH-OVERRIDE", facts=EligibilityFacts(emergency=True))
    handle = await scenario.start(ts_env.client, services.settings, inp)
    refused = await scenario.until(ts_env, handle, Stage.INELIGIBLE)
    assert refused.eligibility and refused.eligibility.reasons[0].code == "a"
    await handle.execute_update(
        SmoCaseWorkflow.override_eligibility,
        OverrideEligibility(reason="treating doctor confirms the situation is stable", by="lead"),
    )
    after = await scenario.until(ts_env, handle, Stage.GATHERING_RECORDS)
    assert any(t.event == "refusal overridden" for t in after.timeline)


async def test_a_second_request_for_the_same_condition_points_to_the_first_case(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    first = await scenario.start(ts_env.client, services.settings, scenario.case_input(services, "KH-FIRST"))
    await scenario.until(ts_env, first, Stage.GATHERING_RECORDS)
    second = await scenario.start(
        ts_env.client, services.settings, scenario.case_input(services, "KH-SECOND", icd10="C50.911")
    )
    refused = await scenario.until(ts_env, second, Stage.INELIGIBLE)
    assert refused.eligibility and refused.eligibility.first_case_id == "KH-FIRST"
    other = await scenario.start(
        ts_env.client, services.settings, scenario.case_input(services, "KH-OTHER", icd10="I25.10")
    )
    assert (await scenario.until(ts_env, other, Stage.GATHERING_RECORDS)).specialty == "cardiology"


async def test_records_that_never_come_get_three_reminders_then_the_case_lapses(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle = await scenario.start(
        ts_env.client, services.settings, scenario.case_input(services, "KH-NORECS")
    )
    result = await handle.result()
    assert result.stage is Stage.LAPSED
    sent = subjects(services, "KH-NORECS")
    assert sum("Reminder" in s for s in sent) == 3
    assert any("has lapsed" in s for s in sent)


async def test_cancel_with_a_reason_ends_the_case_and_tells_the_customer(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle = await scenario.start(
        ts_env.client, services.settings, scenario.case_input(services, "KH-CANCEL")
    )
    await scenario.until(ts_env, handle, Stage.GATHERING_RECORDS)
    await handle.execute_update(SmoCaseWorkflow.cancel, Cancel(reason="customer withdrew", by="coordinator"))
    result = await handle.result()
    assert result.stage is Stage.CANCELLED
    assert any("cancelled" in s for s in subjects(services, "KH-CANCEL"))
    with pytest.raises((WorkflowUpdateFailedError, RPCError)):  # a finished case takes no updates
        await handle.execute_update(SmoCaseWorkflow.cancel, Cancel(reason="again please", by="c"))


async def test_missing_required_records_block_completion_until_waived_with_a_reason(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle = await scenario.start(ts_env.client, services.settings, scenario.case_input(services, "KH-WAIVE"))
    await scenario.until(ts_env, handle, Stage.GATHERING_RECORDS)
    docs = [
        d
        for d in scenario.required_records(services, "prudential-kh", "KH-WAIVE")
        if d.record_type is not RecordType.OPERATIVE_REPORT
    ]
    await handle.execute_update(SmoCaseWorkflow.add_record, AddRecords(documents=docs, by="c"))
    await scenario.attest_consent(handle, services)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(SmoCaseWorkflow.mark_records_complete, CompleteRecords(by="c"))
    assert "operative_report" in str(refused.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as no_reason:
        await handle.execute_update(
            SmoCaseWorkflow.mark_records_complete,
            CompleteRecords(waive=[RecordType.OPERATIVE_REPORT], by="c"),
        )
    assert "needs a reason" in str(no_reason.value.cause)
    await handle.execute_update(
        SmoCaseWorkflow.mark_records_complete,
        CompleteRecords(waive=[RecordType.OPERATIVE_REPORT], waive_reason="no surgery was done", by="c"),
    )
    reviewing = await scenario.until(ts_env, handle, Stage.UNDER_REVIEW)
    assert reviewing.records.waived == [RecordType.OPERATIVE_REPORT]


async def test_a_declining_specialist_is_replaced_by_another(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle = await scenario.start(
        ts_env.client, services.settings, scenario.case_input(services, "KH-DECLINE")
    )
    first = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    assert first.specialist_id
    await handle.execute_update(
        SmoCaseWorkflow.decline,
        Decline(specialist_id=first.specialist_id, reason="conflict of schedule", by=first.specialist_id),
    )
    now = await scenario.when(
        handle,
        lambda s: s.stage is Stage.UNDER_REVIEW and s.specialist_id not in (None, first.specialist_id),
        "another specialist reviewing",
    )
    assert now.specialist_id not in (None, first.specialist_id)
    assert now.specialty == "oncology"
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await scenario.submit_report(handle, services, first.specialist_id)
    assert "not the assigned specialist" in str(refused.value.cause)


async def test_report_delivery_sends_a_signed_link_and_the_no_reimbursement_notice(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle = await scenario.start(ts_env.client, services.settings, scenario.case_input(services, "KH-LINK"))
    review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    assert review.specialist_id
    await scenario.submit_report(handle, services, review.specialist_id)
    await scenario.until(ts_env, handle, Stage.REPORT_DELIVERED)
    (mail,) = [
        m
        for m in read_outbox(services.settings.outbox_dir)
        if m["X-SMO-Case-Id"] == "KH-LINK" and "report is ready" in str(m["Subject"])
    ]
    body = mail.get_body().get_content()  # type: ignore[union-attr]
    assert f"{services.settings.base_url}/reports/KH-LINK/" in body and "sig=" in body
    assert "doesn't reimburse" in body
    assert not mail.is_multipart()  # a link, never an attachment


class FlakyLedger(Ledger):
    """Fails after committing the charge, twice: the retry must not charge again."""

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(ledger.engine)
        self.failures = 2

    def charge(self, req: ChargeRequest) -> ChargeResult:
        result = super().charge(req)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("billing gateway timed out after accepting the charge")
        return result


async def test_second_consult_is_charged_exactly_once_even_when_billing_is_retried(
    ts_env: WorkflowEnvironment, services: Services
) -> None:
    services.ledger = FlakyLedger(services.ledger)
    async with build_worker(ts_env.client, services, workflow_failure_exception_types=[Exception]):
        handle = await scenario.start(
            ts_env.client, services.settings, scenario.case_input(services, "KH-BILL")
        )
        review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
        assert review.specialist_id
        await scenario.submit_report(handle, services, review.specialist_id)
        await scenario.until(ts_env, handle, Stage.REPORT_DELIVERED)
        slot = (await ts_env.get_current_time()) + timedelta(days=3)
        free = await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="c"))
        await handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="c"))
        billed = await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="c"))
        assert (free.detail, billed.detail) == ("free", "billed")
        await handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="c"))
        await handle.execute_update(SmoCaseWorkflow.close, Close(by="c"))
        result = await handle.result()
    entries = services.ledger.entries("KH-BILL")
    assert [(e.idempotency_key, e.amount_cents) for e in entries] == [("KH-BILL:consult:2", 15000)]
    assert result.charges == 1
    assert sum("Receipt" in s for s in subjects(services, "KH-BILL")) == 1


async def test_third_opinion_is_billed_and_goes_to_a_different_specialist(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle = await scenario.start(ts_env.client, services.settings, scenario.case_input(services, "KH-THIRD"))
    first = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    assert first.specialist_id
    await scenario.submit_report(handle, services, first.specialist_id)
    await scenario.until(ts_env, handle, Stage.REPORT_DELIVERED)
    ack = await handle.execute_update(SmoCaseWorkflow.request_third_opinion, RequestThirdOpinion(by="c"))
    assert ack.detail == "billed"
    second = await scenario.when(
        handle,
        lambda s: bool(
            s.stage is Stage.UNDER_REVIEW and s.sla.due_at and s.specialist_id != first.specialist_id
        ),
        "another specialist on a fresh clock",
    )
    assert second.specialist_id not in (None, first.specialist_id)
    assert second.specialist_id
    await scenario.submit_report(handle, services, second.specialist_id)
    await scenario.until(ts_env, handle, Stage.REPORT_DELIVERED)
    await handle.execute_update(SmoCaseWorkflow.close, Close(by="c"))
    result = await handle.result()
    assert (result.reports, result.charges) == (2, 1)
    assert [e.kind for e in services.ledger.entries("KH-THIRD")] == ["third_opinion"]


async def test_assist_america_refuses_the_21st_document_and_stores_nothing(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services, tmp_path: Path
) -> None:
    handle = await scenario.start(
        ts_env.client, services.settings, scenario.case_input(services, "AA-CAP", "assist-america")
    )
    await scenario.until(ts_env, handle, Stage.GATHERING_RECORDS)
    files = []
    for i in range(21):
        path = tmp_path / f"record-{i}.txt"
        path.write_text(f"lab result {i}")
        files.append(path)
    await ops.add_records(ts_env.client, services.store, "AA-CAP", files[:20], RecordType.LAB_RESULT, "c")
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await ops.add_records(ts_env.client, services.store, "AA-CAP", files[20:], RecordType.LAB_RESULT, "c")
    assert "up to 20 documents" in str(refused.value.cause)
    stored = services.store.put_bytes(b"probe", "AA-CAP")  # the store still works
    services.store.delete("AA-CAP", stored.doc_id)
    sha = hashlib.sha256(b"lab result 20").hexdigest()
    assert not services.store.exists("AA-CAP", sha)
    assert (await scenario.status(handle)).records.documents == 20


async def test_assist_america_accepts_late_documents_and_notifies_the_team(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle = await scenario.start(
        ts_env.client, services.settings, scenario.case_input(services, "AA-LATE", "assist-america")
    )
    await scenario.to_review(ts_env, handle, services, "assist-america")
    late = scenario.upload(services, b"new scan", RecordType.IMAGING, "AA-LATE")
    await handle.execute_update(SmoCaseWorkflow.add_record, AddRecords(documents=[late], by="member"))
    await scenario.settled(handle)
    assert any("after submission" in s for s in subjects(services, "AA-LATE"))


async def test_assist_america_case_stays_on_file_and_a_follow_up_links_to_it(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle = await scenario.start(
        ts_env.client, services.settings, scenario.case_input(services, "AA-FIRST", "assist-america")
    )
    review = await scenario.to_review(ts_env, handle, services, "assist-america")
    assert review.specialist_id
    await scenario.submit_report(handle, services, review.specialist_id)
    await scenario.until(ts_env, handle, Stage.REPORT_DELIVERED)
    slot = (await ts_env.get_current_time()) + timedelta(days=1)
    for _ in range(3):  # consults are not limited in this program
        ack = await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="c"))
        assert ack.detail == "free"
        await handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="c"))
    await handle.execute_update(SmoCaseWorkflow.close, Close(by="c"))
    assert (await handle.result()).stage is Stage.CLOSED
    assert any("is closed" in s for s in subjects(services, "AA-FIRST"))

    follow = await scenario.start(
        ts_env.client,
        services.settings,
        scenario.case_input(services, "AA-FOLLOW", "assist-america", follow_up_of="AA-FIRST"),
    )
    linked = await scenario.until(ts_env, follow, Stage.GATHERING_RECORDS)
    assert linked.follow_up_of == "AA-FIRST"
    assert linked.follow_up_allowed
