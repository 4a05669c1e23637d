"""Duplicates and races: the same command twice, many commands at once. On the real dev server,
with the worker process."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

import service as ops
from models.case import AddRecords, BookConsult, DocumentRef, RecordType, Stage, workflow_id_for
from tests import scenario
from tests.reliability.harness import Live, charges, db_rows, delivered, repeated
from workflows.smo_case import SmoCaseWorkflow


async def runs_of(live: Live, case_id: str) -> list[str]:
    """The first run id of every execution chain with the case's workflow id (visibility
    settles first): a case that continued as new is still one chain."""
    query = f"WorkflowId = '{workflow_id_for(case_id)}'"
    for _ in range(100):
        runs = [w.run_id async for w in live.client.list_workflows(query)]
        if runs:
            return [run for run in runs if not await _continued(live, case_id, run)]
        await asyncio.sleep(0.05)
    return []


async def _continued(live: Live, case_id: str, run_id: str) -> bool:
    """Whether the run is one the case continued into (not a new start)."""
    handle = live.client.get_workflow_handle(workflow_id_for(case_id), run_id=run_id)
    async for event in handle.fetch_history_events():
        return bool(event.workflow_execution_started_event_attributes.continued_execution_run_id)
    return False


async def test_opening_the_same_case_twice_starts_one_run_and_one_case_row(live: Live) -> None:
    case = live.case(1)
    first = await case.open()
    second = await case.open()  # the coordinator runs `smo case open` again with the same id
    assert (first.case_id, second.case_id) == (case.case_id, case.case_id)

    racing = live.case(2)
    await asyncio.gather(*(racing.start() for _ in range(5)))  # five at once
    await racing.wait_for(Stage.GATHERING_RECORDS)

    for c in (case, racing):
        assert len(await runs_of(live, c.case_id)) == 1
        assert db_rows(live.settings, "SELECT count(*) FROM cases WHERE case_id = ?", c.case_id) == [(1,)]
        history = [e async for e in c.handle.fetch_history_events()]
        assert sum(e.HasField("workflow_execution_started_event_attributes") for e in history) == 1

    # Once the case has closed, its id is never reused.
    await case.finish()
    assert (await case.result()).stage is Stage.CLOSED
    with pytest.raises(ops.UserError, match="taken by a finished case"):
        await case.open()
    assert len(await runs_of(live, case.case_id)) == 1
    assert not repeated(delivered(live.settings.outbox_dir))


async def test_concurrent_record_uploads_never_corrupt_the_checklist(live: Live) -> None:
    case = live.case(1)
    status = await case.open()
    required = status.records.required
    docs = [
        DocumentRef(doc_id=s.doc_id, record_type=required[i % len(required)], size=s.size)
        for i, s in enumerate(
            live.services.store.put_bytes(f"{case.case_id} record {i}".encode(), case.case_id)
            for i in range(20)
        )
    ]
    # 20 uploads of distinct documents, 5 that send one of those again, and 3 uploads of the
    # same new document, all at once.
    extra = live.services.store.put_bytes(b"sent three times at once", case.case_id)
    extra_ref = DocumentRef(doc_id=extra.doc_id, record_type=RecordType.IMAGING, size=extra.size)
    batches = [[d] for d in docs] + [[docs[i]] for i in (0, 5, 10, 15, 19)] + [[extra_ref]] * 3
    acks = await asyncio.gather(
        *(
            case.handle.execute_update(SmoCaseWorkflow.add_record, AddRecords(documents=b, by=f"c{i}"))
            for i, b in enumerate(batches)
        )
    )
    assert len(acks) == len(batches)

    distinct = {d.doc_id for d in docs} | {extra.doc_id}
    after = await case.status()
    assert after.records.documents == len(distinct) == 21
    assert sum(after.records.received.values()) == 21
    assert after.records.missing == []

    await case.complete_records()
    await case.under_review()
    registered = {
        (d, t) for (d, t) in db_rows(
            live.settings, "SELECT doc_id, record_type FROM documents WHERE case_id = ?", case.case_id
        )
    }
    # The records, once each, and the member's signed consent form the desk attested.
    assert {d for d, t in registered if t != RecordType.CONSENT.value} == distinct
    assert [t for _, t in registered].count(RecordType.CONSENT.value) == 1


async def test_a_billed_booking_sent_twice_or_double_clicked_charges_once(live: Live) -> None:
    case = live.case(1)
    review = await case.to_review()
    assert review.specialist_id is not None
    await case.submit_report(review.specialist_id)
    await case.wait_for(Stage.REPORT_DELIVERED)
    assert await case.book_consult(1) == "free"
    await case.complete_consult(1)

    slot = datetime.now(UTC) + timedelta(days=4)
    # The same request retried three times (one update id), and two more clicks (new ids).
    ids = ["retry", "retry", "retry", "click-2", "click-3"]

    async def book(update_id: str) -> str:
        try:
            ack = await case.handle.execute_update(
                SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="c"), id=f"{case.case_id}:{update_id}"
            )
        except WorkflowUpdateFailedError as err:
            assert "a consult is already booked" in str(err.cause)
            return "refused"
        return f"{update_id}:{ack.detail}"

    outcomes = await asyncio.gather(*(book(i) for i in ids))
    accepted = {o for o in outcomes if o != "refused"}
    assert len(accepted) == 1, outcomes
    (winner,) = accepted
    assert winner.endswith(":billed")
    assert outcomes.count(winner) == ids.count(winner.split(":")[0])

    # The booking answered at once; the charge follows it.
    status = await scenario.settled(case.handle)
    assert (status.consults_booked, status.consult_pending) == (2, True)
    assert charges(live.settings) == {f"{case.case_id}:consult:2": 1}
    await case.complete_consult(2)
    result = await case.close()
    assert (result.stage, result.charges) == (Stage.CLOSED, 1)
    sent = delivered(live.settings.outbox_dir)
    assert not repeated(sent)
    assert sent[(f"{case.case_id}:receipt:consult:2", case.intake.email)] == 1
