"""The daily purge's Schedule and the namespace's retention, on the real Temporal dev server
(the time-skipping test server has no schedules)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
    WorkflowExecutionStatus,
)
from temporalio.service import RPCError

from models.settings import Settings
from runtime.case_retention import erasure_of
from runtime.devserver import DevServer
from runtime.temporal import connect
from service.monthly_report import REPORT_SCHEDULE_ID
from service.retention import NAMESPACE_RETENTION, PURGE_SCHEDULE_ID, ensure_purge_schedule
from starter.dev import DevStack
from tests.polling import eventually
from tests.retention_seed import objects_of, seed_case, years_ago
from worker import Services, run_worker


async def schedule_of(client: Client) -> ScheduleDescription | None:
    try:
        return await client.get_schedule_handle(PURGE_SCHEDULE_ID).describe()
    except RPCError:  # not made yet
        return None


async def test_the_worker_makes_the_daily_purge_schedule_once_and_a_triggered_purge_erases_a_due_case(
    settings: Settings,
) -> None:
    services = Services.from_settings(settings)  # the case DB and store `smo worker` will use
    seed_case(services.engine, services.store, "SCHED-DUE-1", closed=years_ago(11))
    seed_case(services.engine, services.store, "SCHED-NEW-1", closed=years_ago(1))
    port = int(settings.temporal_address.rsplit(":", 1)[1])
    server = DevServer(settings.home / "temporal.db", port=port, ui=False)
    await server.start()
    stop = asyncio.Event()
    try:
        worker = asyncio.create_task(run_worker(settings, stop))
        client = await connect(settings)
        made = await eventually(lambda: schedule_of(client), lambda d: d is not None)
        assert made is not None
        action = made.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert (action.workflow, action.task_queue) == ("SmoRetentionPurge", settings.task_queue)
        spec = made.schedule.spec
        assert spec.time_zone_name == "Asia/Phnom_Penh" and len(spec.calendars) == 1
        assert [r.start for r in spec.calendars[0].hour] == [2]

        # A second worker starting finds it and leaves it as it is.
        await ensure_purge_schedule(client, "another-queue")
        again = await schedule_of(client)
        assert again is not None and isinstance(again.schedule.action, ScheduleActionStartWorkflow)
        assert again.schedule.action.task_queue == settings.task_queue
        ids = sorted([s.id async for s in await client.list_schedules()])
        assert ids == sorted([PURGE_SCHEDULE_ID, REPORT_SCHEDULE_ID])

        # What the Schedule starts at 02:30 every day, started now.
        await client.get_schedule_handle(PURGE_SCHEDULE_ID).trigger()
        await eventually(
            lambda: asyncio.to_thread(erasure_of, services.engine, "SCHED-DUE-1"), lambda e: e is not None
        )
        assert objects_of(services.store, "SCHED-DUE-1") == []
        assert erasure_of(services.engine, "SCHED-NEW-1") is None
        assert len(objects_of(services.store, "SCHED-NEW-1")) == 2

        async def purges() -> list[WorkflowExecutionStatus | None]:
            query = "WorkflowType = 'SmoRetentionPurge'"
            return [wf.status async for wf in client.list_workflows(query)]

        assert await eventually(purges, lambda s: s == [WorkflowExecutionStatus.COMPLETED])

        # The monthly report's Schedule starts its workflow, which runs its activity to the end
        # (it sends only on a month's first working day: tests/test_monthly_report.py).
        await client.get_schedule_handle(REPORT_SCHEDULE_ID).trigger()

        async def reports() -> list[WorkflowExecutionStatus | None]:
            return [wf.status async for wf in client.list_workflows("WorkflowType = 'SmoMonthlyReport'")]

        assert await eventually(reports, lambda s: s == [WorkflowExecutionStatus.COMPLETED])
        stop.set()
        await asyncio.wait_for(worker, 30)
    finally:
        stop.set()
        await server.stop()
        services.engine.dispose()


async def test_smo_dev_keeps_closed_histories_30_days_and_makes_the_purge_schedule(
    settings: Settings,
) -> None:
    async with DevStack(settings, ui=False):
        client = await connect(settings)
        namespace = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=client.namespace)
        )
        kept = namespace.config.workflow_execution_retention_ttl.ToTimedelta()
        assert kept == NAMESPACE_RETENTION == timedelta(days=30)
        assert await schedule_of(client) is not None
        assert (await client.get_schedule_handle(REPORT_SCHEDULE_ID).describe()).id == REPORT_SCHEDULE_ID
