"""The worker process is killed (SIGKILL) in each stage of a case and started again.

Each kill lands at a known point. The worker reaches the server through a proxy; before the
kill the proxy drops everything the worker sends, so the work it did (a committed DB row, a
charge) never reaches the server: the kill always lands after the side effect and before
the server heard of it, the hardest moment for "exactly once". Every case then runs to
CLOSED, and the outside world (ledger rows, messages the SMTP server received) shows each
charge and each notice once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from datetime import UTC, datetime, timedelta

from temporalio.client import WorkflowUpdateStage

import service as ops
from models.case import BookConsult, RecordType, SlaState, Stage
from tests import scenario
from tests.reliability.harness import (
    Live,
    activity_attempts,
    closed,
    db_rows,
    wait_activity_started,
    wait_for_row,
    wait_workflow_task_started,
)
from workflows.smo_case import SmoCaseWorkflow


async def test_worker_killed_while_checking_eligibility_opens_the_case_once(live: Live) -> None:
    case = live.case(1)
    # The partition starts once the worker holds the case's first task (its first write waits at
    # the DB lock meanwhile): a poll sent after it would be dropped too. The opening's status
    # query is sent after that pickup, so it waits at the server: had it ridden in the task,
    # the worker would have had to complete the task (dropped) before running eligibility.
    # The case's document key is written once, when its details sheet is first stored: made
    # beforehand, so the opening itself does not wait at the lock.
    await asyncio.to_thread(case.store.case_keys.for_writing, case.case_id)
    live.lock.acquire()
    opening = asyncio.create_task(case.start(query_after_pickup=True))
    await wait_workflow_task_started(case.handle)
    live.proxy.drop_uploads()
    live.lock.release()
    # The worker registered the case and decided eligibility; the server never heard back.
    await wait_for_row(
        live.settings,
        "SELECT id FROM audit_events WHERE case_id = ? AND action = 'eligibility.check'",
        case.case_id,
    )
    live.restart_worker()
    await opening

    status = await case.wait_for(Stage.GATHERING_RECORDS)
    # Checked again after the crash, the case does not count against itself (one per condition).
    assert status.eligibility is not None and status.eligibility.eligible
    assert db_rows(live.settings, "SELECT count(*) FROM cases WHERE case_id = ?", case.case_id) == [(1,)]

    await case.finish()
    await closed(case)
    live.assert_each_effect_once(charge_keys={f"{case.case_id}:consult:2"}, cases=[case])


async def test_worker_killed_while_records_are_uploaded_keeps_every_record_once(live: Live) -> None:
    case = live.case(1)
    await case.open()
    await case.add_record(RecordType.OPERATIVE_REPORT)

    live.proxy.drop_uploads()
    uploads = [
        asyncio.create_task(case.add_record(t))
        for t in (RecordType.BIOPSY_REPORT, RecordType.DISCHARGE_SUMMARY, RecordType.TREATMENT_PLAN)
    ]
    # The worker holds the task that carries the uploads when it dies.
    await wait_workflow_task_started(case.handle)
    live.restart_worker()
    await asyncio.gather(*uploads)

    status = await case.status()
    assert status.records.documents == 4
    assert status.records.missing == []
    await case.complete_records()
    await case.under_review()
    registered = db_rows(
        live.settings, "SELECT record_type FROM documents WHERE case_id = ? ORDER BY 1", case.case_id
    )
    # Every record once, and the member's signed consent form the desk attested before review.
    assert registered == sorted((t.value,) for t in [*status.records.required, RecordType.CONSENT])

    await case.finish()
    await closed(case)
    live.assert_each_effect_once(charge_keys={f"{case.case_id}:consult:2"}, cases=[case])


async def test_worker_killed_after_assigning_keeps_one_specialist(live: Live) -> None:
    case = live.case(1)
    await case.open()
    await case.add_required_records()
    await case.attest_consent()  # first, so the task whose completion is lost is the assignment

    live.proxy.drop_uploads()
    completing = asyncio.create_task(case.complete_records())
    # The assignment is committed in the case DB; the workflow's record of it is lost.
    (chosen,) = await wait_for_row(
        live.settings, "SELECT specialist_id FROM assignments WHERE case_id = ?", case.case_id
    )
    live.restart_worker()
    await completing

    review = await case.under_review()
    assert review.specialist_id == chosen
    assert db_rows(
        live.settings,
        "SELECT assignment_no, specialist_id, status FROM assignments WHERE case_id = ?",
        case.case_id,
    ) == [(1, chosen, "active")]

    await case.finish()
    await closed(case)
    assert db_rows(
        live.settings, "SELECT specialist_id, status FROM assignments WHERE case_id = ?", case.case_id
    ) == [(chosen, "completed")]
    live.assert_each_effect_once(charge_keys={f"{case.case_id}:consult:2"}, cases=[case])


async def test_worker_killed_while_waiting_for_the_report_loses_nothing(live: Live) -> None:
    case = live.case(1)
    review = await case.to_review()
    assert review.specialist_id is not None and review.sla.due_at is not None

    live.worker.kill()
    # The specialist submits while no worker runs: the update waits at the server.
    submitting = asyncio.create_task(case.submit_report(review.specialist_id))
    live.worker.start()
    await submitting

    delivered = await case.wait_for(Stage.REPORT_DELIVERED)
    assert delivered.sla.due_at == review.sla.due_at
    assert delivered.sla.state is SlaState.MET
    await case.finish()
    await closed(case)
    live.assert_each_effect_once(charge_keys={f"{case.case_id}:consult:2"}, cases=[case])


async def test_worker_killed_while_billing_charges_once(live: Live) -> None:
    """prudential-kh: the first consult is free, the second is billed. The worker commits the
    charge and dies before it reports; the retry finds the charge under its idempotency key."""
    case = live.case(1)
    review = await case.to_review()
    assert review.specialist_id is not None
    await case.submit_report(review.specialist_id)
    await case.wait_for(Stage.REPORT_DELIVERED)
    assert await case.book_consult(1) == "free"
    await case.complete_consult(1)
    await scenario.settled(case.handle)  # the first booking's notice is out before the DB is held

    key = f"{case.case_id}:consult:2"
    live.lock.acquire()  # the charge will wait at its INSERT
    booking = await case.handle.start_update(
        SmoCaseWorkflow.book_consult,
        BookConsult(slot=datetime.now(UTC) + timedelta(days=3), by="coordinator"),
        id=f"{case.case_id}:consult-2",
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    assert await wait_activity_started(case.handle, "charge_customer") == 1
    live.proxy.drop_uploads()
    live.lock.release()
    await wait_for_row(live.settings, "SELECT id FROM ledger WHERE idempotency_key = ?", key)
    live.restart_worker()

    ack = await booking.result()
    assert ack.detail == "billed"
    await scenario.settled(case.handle, timeout=90)  # the booking answered; the charge follows
    # The charge ran again after the kill (attempt 2) and found the first one's row.
    assert await activity_attempts(case.client, case.handle.id, "charge_customer") == [2]
    await case.finish()
    (result,) = await closed(case)
    assert result.charges == 1
    live.assert_each_effect_once(charge_keys={key}, cases=[case])


async def test_worker_killed_while_emailing_sends_each_notice_once(live: Live) -> None:
    """The SMTP session of the report email is held open before the recipient is accepted, and
    the worker dies in it. The activity's retry (after its 60 s start-to-close timeout) sends it."""
    case = live.case(1)
    review = await case.to_review()
    assert review.specialist_id is not None

    live.outbox.arm()
    submitting = asyncio.create_task(case.submit_report(review.specialist_id))
    await live.outbox.wait_holding()
    live.restart_worker()
    live.outbox.open()
    await submitting

    await case.wait_for(Stage.REPORT_DELIVERED, timeout=120)
    # The report email's first attempt died with the worker; a second one sent it.
    assert 2 in await activity_attempts(case.client, case.handle.id, "send_notice")
    await case.finish()
    await closed(case)
    live.assert_each_effect_once(charge_keys={f"{case.case_id}:consult:2"}, cases=[case])


async def test_records_upload_abandoned_while_no_worker_runs_is_applied_when_a_worker_returns(
    live: Live,
) -> None:
    """The coordinator's upload hangs because no worker runs, and they press Ctrl-C. The server
    has already taken the update, so the command keeps the file it stored: when a worker is
    back the update is applied, and no record ever points at a missing file."""
    case = live.case(1)
    await case.open()
    for record_type in (RecordType.OPERATIVE_REPORT, RecordType.BIOPSY_REPORT, RecordType.DISCHARGE_SUMMARY):
        await case.add_record(record_type)

    live.worker.kill()
    plan = RecordType.TREATMENT_PLAN
    abandoned = case.record_file(plan)
    upload = asyncio.create_task(
        ops.add_records(live.client, live.services.store, case.case_id, [abandoned], plan, "coordinator")
    )
    await asyncio.sleep(1.0)  # the command hangs for a second, then Ctrl-C
    upload.cancel()
    with contextlib.suppress(BaseException):
        await upload
    assert live.services.store.exists(case.case_id, hashlib.sha256(abandoned.read_bytes()).hexdigest())
    live.worker.start()

    # They upload a revised treatment plan and the case goes on.
    revised = case.folder / "treatment_plan_v2.txt"
    revised.write_text(f"{case.intake.patient_name}: revised treatment plan\n")
    store = live.services.store
    ack = await ops.add_records(live.client, store, case.case_id, [revised], plan, "coordinator")
    assert ack.detail == "missing: none"
    status = await case.status()
    assert status.records.documents == 5  # the abandoned plan was applied, then the revision
    await case.complete_records()
    await case.under_review()
    for (doc_id,) in db_rows(live.settings, "SELECT doc_id FROM documents WHERE case_id = ?", case.case_id):
        assert live.services.store.exists(case.case_id, doc_id)
    await case.finish()
    await closed(case)
    live.assert_each_effect_once(charge_keys={f"{case.case_id}:consult:2"}, cases=[case])
