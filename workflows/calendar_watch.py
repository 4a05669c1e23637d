"""The calendar watch: one long-running workflow per namespace that carries holiday decrees to running cases.

It waits in an activity for the holiday-overrides file to change, and for each change
lists the open cases whose deadline the change can move and signals them
`calendar_changed`. Its state is what it has applied (the overrides in force and their
digest), so a change is applied once, a worker restart loses nothing, and a change saved
while no worker ran is found when one starts. It continues as new every few hundred
waits to keep its history short.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.common import RetryPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from models.calendar_watch import (
        AffectedCases,
        AffectedRequest,
        Observation,
        SignalReport,
        SignalRequest,
        WatchRequest,
        WatchState,
    )

__all__ = ["WATCH_WORKFLOW_ID", "CalendarWatchWorkflow", "WatchState", "start_calendar_watch"]

WATCH_WORKFLOW_ID = "smo-calendar-watch"

# The watch must outlive any outage, so every step retries without limit, backing off
# to a minute; nothing it does can be refused for good.
PATIENT = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


@workflow.defn(name="SmoCalendarWatch")
class CalendarWatchWorkflow:
    def __init__(self) -> None:
        self.s = WatchState()

    @workflow.run
    async def run(self, state: WatchState) -> None:
        self.s = state
        for _ in range(self.s.waits_per_run):
            seen = await workflow.execute_activity(
                "watch_overrides",
                WatchRequest(
                    seen_digest=self.s.seen_digest, applied=self.s.applied, wait_seconds=self.s.wait_seconds
                ),
                start_to_close_timeout=timedelta(seconds=self.s.wait_seconds + 60),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=PATIENT,
                summary="wait for a saved holiday decree",
                result_type=Observation,
            )
            await self._apply(seen)
            if workflow.info().is_continue_as_new_suggested():
                break
        workflow.continue_as_new(self.s)

    async def _apply(self, seen: Observation) -> None:
        if seen.unchanged:
            return
        self.s.seen_digest = seen.digest
        if seen.error:
            # The last good overrides stay in force; the next save is compared with them.
            self.s.last_error = seen.error
            workflow.logger.warning("holiday overrides not applied: the file is malformed")
            return
        self.s.last_error = ""
        if seen.change is not None and seen.earliest is not None:
            affected = await workflow.execute_activity(
                "list_affected_cases",
                AffectedRequest(earliest=seen.earliest),
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=PATIENT,
                result_type=AffectedCases,
            )
            report = await workflow.execute_activity(
                "signal_calendar_change",
                SignalRequest(workflow_ids=affected.workflow_ids, change=seen.change),
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(seconds=60),
                retry_policy=PATIENT,
                result_type=SignalReport,
            )
            self.s.changes_applied += 1
            self.s.cases_signalled += report.signalled
            self.s.last_decree = seen.change.decree
            self.s.last_source = affected.source
            workflow.logger.info(
                "holiday decree applied: %d cases signalled (%s)", report.signalled, affected.source
            )
        # Only now is the change applied: a crash before this point redoes it.
        self.s.applied = seen.overrides
        self.s.applied_digest = seen.digest

    @workflow.query
    def status(self) -> WatchState:
        return self.s


async def start_calendar_watch(
    client: Client, task_queue: str, state: WatchState | None = None
) -> WorkflowHandle[CalendarWatchWorkflow, None]:
    """Start the namespace's watch unless it runs already (any number of workers may call this)."""
    try:
        return await client.start_workflow(
            CalendarWatchWorkflow.run,
            state or WatchState(),
            id=WATCH_WORKFLOW_ID,
            task_queue=task_queue,
            static_summary="Carries holiday decrees to running cases",
        )
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle_for(CalendarWatchWorkflow.run, WATCH_WORKFLOW_ID)
