"""Each review round's SLA facts reach the case DB when the round ends (the SLA report's source):
a report on time or late, a decline and the reassignment after it, a cancelled case."""

from __future__ import annotations

from datetime import UTC, date, timedelta

from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from calendars import CalendarService, elapsed_working_days
from models.case import Cancel, Decline, InfoReason, RequestInfo, SlaState, Stage, SupplyInfo
from models.db import SlaRound
from tests import scenario
from tests.polling import eventually
from worker import Services
from workflows.smo_case import SmoCaseWorkflow


async def rounds(services: Services, case_id: str, count: int) -> list[SlaRound]:
    async def recorded() -> list[SlaRound]:
        with Session(services.engine) as session:
            return list(
                session.exec(
                    select(SlaRound).where(SlaRound.case_id == case_id).order_by(col(SlaRound.assignment_no))
                )
            )

    return await eventually(
        recorded,
        lambda found: len(found) >= count,
        what=lambda found: f"{len(found)} SLA rounds recorded for {case_id}, wanted {count}",
    )


async def test_a_declined_round_and_the_reassigned_round_with_the_report_are_both_recorded(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle = await scenario.start(ts_env.client, services.settings, scenario.case_input(services, "RND-DECL"))
    first = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    assert first.specialist_id is not None
    decline = Decline(
        specialist_id=first.specialist_id, reason="conflict of schedule", by=first.specialist_id
    )
    await handle.execute_update(SmoCaseWorkflow.decline, decline)
    second = await scenario.when(
        handle,
        lambda s: bool(s.specialist_id not in (None, first.specialist_id) and s.sla.due_at),
        "another specialist on a fresh clock",
    )
    assert second.specialist_id is not None
    await scenario.submit_report(handle, services, second.specialist_id)
    await scenario.until(ts_env, handle, Stage.REPORT_DELIVERED)

    declined, reported = await rounds(services, "RND-DECL", 2)
    assert (declined.assignment_no, declined.specialist_id, declined.outcome) == (
        1,
        first.specialist_id,
        "reassigned",
    )
    assert (reported.assignment_no, reported.specialist_id, reported.outcome) == (
        2,
        second.specialist_id,
        "met",
    )
    assert reported.working_days == 10 and reported.calendars == "KH,US"
    # The DB keeps UTC (SQLite hands it back without a zone).
    assert second.sla.due_at is not None and reported.due_at is not None
    assert reported.due_at.replace(tzinfo=UTC) == second.sla.due_at
    assert not reported.warned and not reported.breached and reported.paused_working_days == 0


async def test_a_late_report_after_a_stopped_clock_is_recorded_late_with_its_paused_days(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle = await scenario.start(ts_env.client, services.settings, scenario.case_input(services, "RND-LATE"))
    review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    assert review.specialist_id is not None
    ask = RequestInfo(reason=InfoReason.CLARIFICATION, by=review.specialist_id)
    await handle.execute_update(SmoCaseWorkflow.request_more_info, ask)
    await scenario.when(handle, lambda s: s.sla.state is SlaState.PAUSED, "the clock stopped")
    await ts_env.sleep(timedelta(days=7))  # a week stopped: five working days
    await handle.execute_update(SmoCaseWorkflow.supply_info, SupplyInfo(by="coordinator"))
    await ts_env.sleep(timedelta(days=30))  # past the restarted deadline
    assert (await scenario.status(handle)).sla.state is SlaState.BREACHED
    await scenario.submit_report(handle, services, review.specialist_id)
    await scenario.until(ts_env, handle, Stage.REPORT_DELIVERED)

    (late,) = await rounds(services, "RND-LATE", 1)
    assert (late.outcome, late.warned, late.breached) == ("late", True, True)
    # The working days the calendar counts between the stop and the restart.
    timeline = (await scenario.status(handle)).timeline
    stopped = next(t.at for t in timeline if t.event.startswith("clock stopped"))
    restarted = next(t.at for t in timeline if t.event == "clock restarted")
    calendars = CalendarService(services.settings.holiday_overrides).calendars(["KH", "US"])
    day0 = date.fromisoformat(review.sla.day0 or "")
    expected = elapsed_working_days(day0, restarted, calendars) - elapsed_working_days(
        day0, stopped, calendars
    )
    assert expected >= 4 and late.paused_working_days == expected


async def test_cancelling_under_review_records_the_round_as_cancelled(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle = await scenario.start(ts_env.client, services.settings, scenario.case_input(services, "RND-CANC"))
    await scenario.to_review(ts_env, handle, services, "prudential-kh")
    await handle.execute_update(SmoCaseWorkflow.cancel, Cancel(reason="member withdrew the request", by="c"))
    assert (await handle.result()).stage is Stage.CANCELLED
    (cancelled,) = await rounds(services, "RND-CANC", 1)
    assert cancelled.outcome == "cancelled" and cancelled.due_at is not None
