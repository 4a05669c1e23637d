"""Two worker processes serve one task queue on one dev server; one is killed (SIGKILL) in the
middle of sending a case's report email. The other finishes every case, and the outside world
(ledger rows, messages the SMTP server received) shows each charge and each notice once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.client import Client

from models.case import Stage
from runtime.devserver import DevServer
from tests.reliability.harness import (
    Handle,
    Live,
    WorkerProcess,
    closed,
    expected_charge_keys,
    worker_env,
)


async def holder_of(handle: Handle, activity_type: str, timeout: float = 30.0) -> str:
    """The identity of the worker running `activity_type` for this case right now."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        for pending in (await handle.describe()).raw_description.pending_activities:
            if pending.activity_type.name == activity_type and pending.last_worker_identity:
                return str(pending.last_worker_identity)
        if loop.time() > deadline:
            raise AssertionError(f"no worker runs {activity_type} after {timeout}s")
        await asyncio.sleep(0.02)


async def worker_identities(handle: Handle) -> set[str]:
    """Every worker that started a workflow or activity task of the case (from its history)."""
    seen: set[str] = set()
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_task_started_event_attributes"):
            seen.add(event.workflow_task_started_event_attributes.identity)
        elif event.HasField("activity_task_started_event_attributes"):
            seen.add(event.activity_task_started_event_attributes.identity)
    return seen


async def notice_attempts(client: Client, handle: Handle) -> list[tuple[int, str]]:
    """(attempt, worker) of every send_notice attempt recorded as started, in every run of the
    case (the consult phase may continue as new soon after the report)."""
    found: list[tuple[int, str]] = []
    async for run in client.list_workflows(f"WorkflowId = '{handle.id}'"):
        scheduled: set[int] = set()
        async for event in client.get_workflow_handle(handle.id, run_id=run.run_id).fetch_history_events():
            if event.HasField("activity_task_scheduled_event_attributes"):
                if event.activity_task_scheduled_event_attributes.activity_type.name == "send_notice":
                    scheduled.add(event.event_id)
            elif event.HasField("activity_task_started_event_attributes"):
                started = event.activity_task_started_event_attributes
                if started.scheduled_event_id in scheduled:
                    found.append((int(started.attempt), started.identity))
    return found


async def test_one_of_two_workers_killed_mid_case_the_other_finishes_every_case_once(
    live: Live, dev_server: DevServer, tmp_path: Path
) -> None:
    second = WorkerProcess(
        worker_env(live.settings, temporal_address=dev_server.address), tmp_path / "worker-2.log"
    ).start()
    try:
        await second.wait_polling(live.client)
        workers = {live.worker.identity: live.worker, second.identity: second}
        cases = [live.case(n) for n in range(1, 5)]
        reviews = await asyncio.gather(*(case.to_review() for case in cases))
        seen = set().union(*[await worker_identities(case.handle) for case in cases])
        assert set(workers) <= seen, "both workers served the cases before the kill"

        # Case 1's report email is held in its SMTP session; the worker sending it dies there.
        first = cases[0]
        specialist = reviews[0].specialist_id
        assert specialist is not None
        live.outbox.arm()
        submitting = asyncio.create_task(first.submit_report(specialist))
        await live.outbox.wait_holding()
        victim_id = await holder_of(first.handle, "send_notice")
        victim = workers[victim_id]
        (survivor_id,) = set(workers) - {victim_id}
        victim.kill()
        live.outbox.open()  # the dead client's session ends without a message
        await submitting

        # The survivor alone takes every case to CLOSED: reports, consults, the billed one, close.
        await first.wait_for(Stage.REPORT_DELIVERED, timeout=150)
        await asyncio.gather(*(case.finish() for case in cases))
        await closed(*cases)

        attempts = await notice_attempts(live.client, first.handle)
        assert any(n >= 2 and who == survivor_id for n, who in attempts), attempts
        assert victim.running is False and workers[survivor_id].running
        live.assert_each_effect_once(
            charge_keys=expected_charge_keys([case.case_id for case in cases]), cases=cases
        )
    finally:
        second.kill()
        print(f"---- second worker log\n{second.log_tail(40)}")
