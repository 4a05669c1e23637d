"""The case from intake to close, on the time-skipping test server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models.case import BookConsult, Close, CompleteConsult, Stage
from runtime.outbox import read_outbox
from tests import scenario
from worker import Services
from workflows.smo_case import SmoCaseWorkflow


async def test_a_prudential_case_runs_from_intake_to_closed(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    inp = scenario.case_input(services, "KH-FLOW-1")
    handle = await scenario.start(ts_env.client, services.settings, inp)
    review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    assert review.specialist_id and review.specialty == "oncology"
    await scenario.submit_report(handle, services, review.specialist_id)
    await scenario.until(ts_env, handle, Stage.REPORT_DELIVERED)
    slot = (await ts_env.get_current_time()) + timedelta(days=2)
    ack = await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="c"))
    assert ack.detail == "free"
    await handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="c"))
    await handle.execute_update(SmoCaseWorkflow.close, Close(by="c"))
    result = await handle.result()
    assert result.stage is Stage.CLOSED
    subjects = [m["Subject"] for m in read_outbox(services.settings.outbox_dir)]
    assert any("report is ready" in s for s in subjects), subjects


async def delivered(ts_env: WorkflowEnvironment, services: Services, case_id: str) -> scenario.Handle:
    """A prudential-kh case with its report delivered."""
    handle = await scenario.start(ts_env.client, services.settings, scenario.case_input(services, case_id))
    review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    assert review.specialist_id
    await scenario.submit_report(handle, services, review.specialist_id)
    await scenario.until(ts_env, handle, Stage.REPORT_DELIVERED)
    return handle


async def assert_small(ts_env: WorkflowEnvironment, handle: scenario.Handle) -> None:
    """No run of the finished case passes 120 events or 32 KB of payloads."""
    runs = await scenario.runs(ts_env.client, handle.id)
    lengths, sizes = [len(h.events) for h in runs], [scenario.payload_bytes(h) for h in runs]
    print(f"events per run: {lengths}; payload bytes per run: {sizes}")
    assert max(lengths) <= 120, lengths
    assert max(sizes) <= 32 * 1024, sizes


async def test_a_completed_case_history_stays_small(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle = await delivered(ts_env, services, "KH-SIZE-1")
    slot = (await ts_env.get_current_time()) + timedelta(days=2)
    await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="c"))
    await scenario.settled(handle)  # the booking's emails are out before the desk goes on
    await handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="c"))
    await handle.execute_update(SmoCaseWorkflow.close, Close(by="c"))
    await handle.result()
    await assert_small(ts_env, handle)


async def test_a_case_whose_consult_is_reminded_keeps_every_run_small(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    # A consult booked three days ahead: both reminders fire before it is held. The consult
    # phase goes on in a fresh run once its history passes its budget, at an idle moment.
    handle = await delivered(ts_env, services, "KH-SIZE-2")
    slot = (await ts_env.get_current_time()) + timedelta(days=3)
    await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="c"))
    await ts_env.sleep(timedelta(days=3, minutes=40))
    await scenario.settled(handle)
    await handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="c"))
    await handle.execute_update(SmoCaseWorkflow.close, Close(by="c"))
    assert (await handle.result()).stage is Stage.CLOSED
    reminders = [
        m
        for m in read_outbox(services.settings.outbox_dir)
        if "consult_reminder" in str(m["X-SMO-Notice-Id"])
    ]
    assert len(reminders) == 4  # 24 h and 1 h before, each to the member and the specialist
    await assert_small(ts_env, handle)


@pytest.mark.parametrize("program", ["prudential-kh", "assist-america"])
async def test_the_demo_case_runs_to_closed_under_each_program(
    program: str, ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    from starter.demo import run_demo

    said: list[str] = []
    result = await run_demo(
        ts_env.client, services.settings, services.store, program=program, say=said.append
    )
    assert result.stage is Stage.CLOSED and result.reports == 1
    assert said[0].startswith("opened case") and said[-1].endswith("CLOSED")
