"""The erase and purge workflows on the time-skipping server, with the real worker and its activities.

The Schedule that starts the purge every day needs a real server (tests/test_retention_schedule.py);
here the purge is started as the Schedule would start it.
"""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from models.retention import PURGE_BATCH, RETENTION_ACTOR, EraseCase, ErasureResult, PurgeCounts, PurgeRequest
from runtime.case_retention import erasure_of
from tests.retention_seed import NOW, hold, make_legacy, member_rows, objects_of, seed_case, years_ago
from worker import Services
from workflows.retention import EraseCaseWorkflow, RetentionPurgeWorkflow, erase_workflow_id


async def purge(client: Client, services: Services, batch: int = PURGE_BATCH) -> tuple[PurgeCounts, int]:
    """One purge, as the Schedule starts it; its counts and the events of its longest run.

    It runs at the seeds' own time: the time-skipping server's clock is ahead of the wall clock by
    however much the session's earlier tests skipped (months, over the whole suite), which would
    make a case closed 9.5 years ago due. The Schedule's own run, at the server's time, is proved on
    the dev server (tests/test_retention_schedule.py)."""
    handle = await client.start_workflow(
        RetentionPurgeWorkflow.run,
        PurgeRequest(batch=batch, now=NOW),
        id=f"smo-retention-purge-{uuid.uuid4().hex[:8]}",
        task_queue=services.settings.task_queue,
    )
    counts = await handle.result()
    longest = 0
    run_id: str | None = handle.first_execution_run_id
    while run_id:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        longest = max(longest, len(history.events))
        last = history.events[-1].workflow_execution_continued_as_new_event_attributes
        run_id = last.new_execution_run_id or None
    return counts, longest


async def test_a_requested_erasure_erases_a_closed_case_and_a_held_one_fails_with_the_refusal(
    client: Client, services: Services, ts_worker: Worker
) -> None:
    engine, store = services.engine, services.store
    seed_case(engine, store, "WF-ERASE-1", closed=years_ago(1))
    seed_case(engine, store, "WF-HELD-1", closed=years_ago(1))
    hold(engine, "WF-HELD-1", by="counsel")
    request = {"how": "erased", "reason": "the member asked", "by": "sup"}

    done = await client.execute_workflow(
        EraseCaseWorkflow.run,
        EraseCase.model_validate({**request, "case_id": "WF-ERASE-1"}),
        id=erase_workflow_id("WF-ERASE-1"),
        task_queue=services.settings.task_queue,
    )
    assert isinstance(done, ErasureResult) and (done.how, done.documents) == ("erased", 2)
    assert objects_of(store, "WF-ERASE-1") == []

    with pytest.raises(WorkflowFailureError) as info:
        await client.execute_workflow(
            EraseCaseWorkflow.run,
            EraseCase.model_validate({**request, "case_id": "WF-HELD-1"}),
            id=erase_workflow_id("WF-HELD-1"),
            task_queue=services.settings.task_queue,
        )
    cause = info.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "CaseHeld"
    assert "under legal hold" in cause.message and "by counsel" in cause.message
    assert len(objects_of(store, "WF-HELD-1")) == 2 and erasure_of(engine, "WF-HELD-1") is None


async def test_the_purge_erases_only_the_due_unheld_cases_a_batch_per_run(
    client: Client, services: Services, ts_worker: Worker
) -> None:
    engine, store = services.engine, services.store
    due = [f"P-DUE-{n:02}" for n in range(PURGE_BATCH + 2)]
    for case_id in due:
        seed_case(engine, store, case_id, closed=years_ago(10.5))
    seed_case(engine, store, "P-EARLY-1", closed=years_ago(9.5))
    seed_case(engine, store, "P-HELD-1", closed=years_ago(15))
    hold(engine, "P-HELD-1")
    seed_case(engine, store, "P-LEGACY-1", closed=years_ago(15))
    make_legacy(engine, "P-LEGACY-1")
    seed_case(engine, store, "P-OPEN-1", closed=None)

    counts, longest = await purge(client, services)

    n = len(due)
    assert counts == PurgeCounts(erased=n, documents=2 * n, objects=2 * n)
    assert longest <= 120  # a batch a run, then it continues as new with the next
    reason = services.programs["prudential-kh"].retention.reason
    for case_id in due:
        stub = erasure_of(engine, case_id)
        assert stub is not None and (stub.how, stub.erased_by, stub.reason) == (
            "purged",
            RETENTION_ACTOR,
            reason,
        )
        assert objects_of(store, case_id) == []
    for case_id in ("P-EARLY-1", "P-HELD-1", "P-LEGACY-1", "P-OPEN-1"):
        assert erasure_of(engine, case_id) is None and len(objects_of(store, case_id)) == 2
    # Tomorrow's purge finds nothing more to do.
    assert (await purge(client, services))[0] == PurgeCounts()


async def test_a_purge_killed_halfway_finishes_on_its_next_run(
    client: Client, services: Services, ts_worker: Worker
) -> None:
    engine, store = services.engine, services.store
    seed_case(engine, store, "K-DONE-1", closed=years_ago(11), documents=3)
    seed_case(engine, store, "K-HALF-1", closed=years_ago(11), documents=3)
    # Yesterday's purge was killed inside K-HALF-1: the store had destroyed its key and removed an
    # object, the case DB had not been told. K-DONE-1 it had not reached.
    store.case_keys.destroy("K-HALF-1")
    store.blobs.delete(objects_of(store, "K-HALF-1")[0])

    counts, _ = await purge(client, services)

    assert (counts.erased, counts.failed, counts.skipped) == (2, 0, 0)
    for case_id in ("K-DONE-1", "K-HALF-1"):
        stub = erasure_of(engine, case_id)
        assert stub is not None and stub.documents == 3
        assert objects_of(store, case_id) == []
        assert set(member_rows(engine, case_id).values()) == {0}
