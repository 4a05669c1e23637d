"""The monthly report's Temporal Schedule (workflows/monthly_report.py), made when missing.

It starts the report on each of a month's first seven days at 08:00 ICT; the run sends it only
on the first KH working day, once. Every worker and `smo dev` call this; one made by another
worker, or changed by an operator since, is left as it is.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
)

from models.monthly_report import MonthlyReportRequest
from service.cases import RPC_TIMEOUT
from workflows.monthly_report import MonthlyReportWorkflow

REPORT_SCHEDULE_ID = "smo-monthly-report"
REPORT_WORKFLOW_ID = "smo-monthly-report-run"
REPORT_AT = ScheduleCalendarSpec(
    day_of_month=[ScheduleRange(1, 7)], hour=[ScheduleRange(8)], minute=[ScheduleRange(0)]
)


async def ensure_report_schedule(client: Client, task_queue: str) -> ScheduleHandle:
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            MonthlyReportWorkflow.run, MonthlyReportRequest(), id=REPORT_WORKFLOW_ID, task_queue=task_queue
        ),
        spec=ScheduleSpec(calendars=[REPORT_AT], time_zone_name="Asia/Phnom_Penh"),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
        state=ScheduleState(note="Emails last month's SLA and outcomes report to the supervisors"),
    )
    with contextlib.suppress(ScheduleAlreadyRunningError):
        await client.create_schedule(REPORT_SCHEDULE_ID, schedule, rpc_timeout=RPC_TIMEOUT)
    return client.get_schedule_handle(REPORT_SCHEDULE_ID)
