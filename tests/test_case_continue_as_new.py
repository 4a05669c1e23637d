"""Cases that stay open continue as new: same workflow id, the same status, search attributes
and timeline, a short history per run. Time-skipping server; a small history budget so a
run fills up in a few simulated days."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models import search
from models.case import BookConsult, CaseStatus, Close, CompleteConsult, SlaState, Stage, workflow_id_for
from models.case_state import TIMELINE_KEPT
from runtime.outbox import read_outbox
from tests import scenario
from worker import Services
from workflows.smo_case import SmoCaseWorkflow

BUDGET = 60


def latest(client: Client, case_id: str) -> scenario.Handle:
    """The case by its workflow id alone: whichever run is current."""
    return client.get_workflow_handle_for(SmoCaseWorkflow.run, workflow_id_for(case_id))


async def history_lengths(client: Client, case_id: str, first_run: str | None) -> list[int]:
    """Events per run, following the chain of continue-as-new from the first run."""
    lengths, run_id = [], first_run
    while run_id:
        history = await client.get_workflow_handle(workflow_id_for(case_id), run_id=run_id).fetch_history()
        lengths.append(len(history.events))
        last = history.events[-1]
        continued = last.HasField("workflow_execution_continued_as_new_event_attributes")
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if continued
            else None
        )
    return lengths


async def settled(handle: scenario.Handle, timeout: float = 60.0) -> CaseStatus:
    """`scenario.settled`, for a case that may be continuing as new while it is asked.

    The time-skipping test server can drop a query that it buffered behind the workflow
    task that continued the run (the query then times out): such a query is asked again.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            current = await handle.query(SmoCaseWorkflow.status, rpc_timeout=timedelta(seconds=3))
        except RPCError as err:
            if err.status not in (
                RPCStatusCode.DEADLINE_EXCEEDED,
                RPCStatusCode.CANCELLED,
                RPCStatusCode.UNKNOWN,
            ):
                raise
            continue
        if not current.pending:
            return current
        await asyncio.sleep(0.05)
    raise AssertionError(f"side effects still pending after {timeout}s")


def notice_ids(services: Services, case_id: str) -> Counter[tuple[str, str]]:
    """(notice id, recipient) of every message the case sent."""
    return Counter(
        (str(m["X-SMO-Notice-Id"]), str(m["To"]))
        for m in read_outbox(services.settings.outbox_dir)
        if m["X-SMO-Case-Id"] == case_id
    )


async def test_a_breached_case_reminding_every_working_day_continues_as_new_and_keeps_its_status(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    inp = scenario.case_input(services, "CAN-BREACH").model_copy(update={"history_budget": BUDGET})
    first = await scenario.start(ts_env.client, services.settings, inp)
    review = await scenario.to_review(ts_env, first, services, "prudential-kh")
    assert review.sla.due_at is not None and review.specialist_id is not None
    # Three months past the deadline: a reminder every working day, 60-odd of them.
    await ts_env.sleep(review.sla.due_at - await ts_env.get_current_time() + timedelta(days=90))

    handle = latest(ts_env.client, "CAN-BREACH")
    status = await scenario.status(handle)
    reminders = [t for t in status.timeline if t.event == "SLA breach reminder"]
    assert status.stage is Stage.UNDER_REVIEW and status.sla.state is SlaState.BREACHED
    assert status.sla.due_at == review.sla.due_at and status.specialist_id == review.specialist_id
    numbers = [int(t.detail) for t in reminders]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))) and numbers[-1] >= 30, numbers
    # The timeline the query returns is bounded; older entries are counted, not kept.
    assert len(status.timeline) == TIMELINE_KEPT and status.timeline_dropped > 0
    attrs = (await handle.describe()).typed_search_attributes
    assert attrs.get(search.STAGE) == "UNDER_REVIEW" and attrs.get(search.SLA_STATE) == "BREACHED"
    assert attrs.get(search.SLA_DEADLINE) == review.sla.due_at

    await scenario.submit_report(handle, services, review.specialist_id)
    await scenario.until(ts_env, handle, Stage.REPORT_DELIVERED)
    await handle.execute_update(SmoCaseWorkflow.close, Close(by="c"))
    result = await handle.result()
    assert result.stage is Stage.CLOSED and result.reports == 1

    lengths = await history_lengths(ts_env.client, "CAN-BREACH", first.first_execution_run_id)
    print(f"events per run of a case breached for three months: {lengths}")
    assert len(lengths) >= 4, lengths
    assert max(lengths) < BUDGET + 40, lengths  # an idle point comes soon after the budget
    # Every reminder went out once, numbered on across the runs.
    sent = notice_ids(services, "CAN-BREACH")
    assert all(n == 1 for n in sent.values()), [k for k, n in sent.items() if n > 1]


async def test_an_assist_america_case_open_for_follow_up_consults_continues_as_new_between_them(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    inp = scenario.case_input(services, "CAN-FOLLOW", "assist-america").model_copy(
        update={"history_budget": BUDGET}
    )
    first = await scenario.start(ts_env.client, services.settings, inp)
    review = await scenario.to_review(ts_env, first, services, "assist-america")
    assert review.specialist_id is not None
    await scenario.submit_report(first, services, review.specialist_id)
    await scenario.until(ts_env, first, Stage.REPORT_DELIVERED)

    handle = latest(ts_env.client, "CAN-FOLLOW")
    for n in range(1, 9):
        slot = (await ts_env.get_current_time()) + timedelta(days=1)
        await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="c"))
        await handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="c"))
        status = await settled(handle)
        assert (status.consults_booked, status.consults_completed) == (n, n)
    assert any(t.event == "history continued in a new run" for t in status.timeline)
    assert status.report_doc_ids and status.free_consults_left == 999

    await handle.execute_update(SmoCaseWorkflow.close, Close(by="c"))
    result = await handle.result()
    assert result.stage is Stage.CLOSED
    lengths = await history_lengths(ts_env.client, "CAN-FOLLOW", first.first_execution_run_id)
    assert len(lengths) >= 2 and max(lengths) < BUDGET + 40, lengths
    sent = notice_ids(services, "CAN-FOLLOW")
    assert all(n == 1 for n in sent.values())
    booked = {notice for notice, _ in sent if ":consult_booked:" in notice}
    assert len(booked) == 8, sorted(sent)


async def test_a_client_cannot_start_a_case_with_forged_carried_state(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    from models.case_state import CaseState, Phase

    forged = CaseState(intake_doc_id="0" * 64, phase=Phase.CONSULT, stage=Stage.CONSULT, reports=["f" * 64])
    inp = scenario.case_input(services, "CAN-FORGED").model_copy(update={"carried": forged})
    handle = await scenario.start(ts_env.client, services.settings, inp)
    status = await scenario.until(ts_env, handle, Stage.GATHERING_RECORDS)
    assert status.report_doc_ids == [] and status.intake_doc_id == inp.intake_doc_id
    assert status.timeline[0].event == "opened"
