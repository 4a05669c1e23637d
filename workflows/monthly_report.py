"""The monthly SLA and outcomes report to the supervisors, from a Temporal Schedule.

The Schedule `smo-monthly-report` starts this workflow on each of the first days of a month at
08:00 ICT; the activity sends the report only on the month's first KH working day (and only
once: its email has an idempotent id), so a long weekend or a holiday moves it, not the cron.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from models.monthly_report import MonthlyReportRequest, MonthlyReportResult

# The report reads the case DB and sends one email: retried for an hour, then the run fails
# (the Web UI shows it; the next day's run tries again while the month's first days last).
SEND = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5))


@workflow.defn(name="SmoMonthlyReport")
class MonthlyReportWorkflow:
    @workflow.run
    async def run(self, req: MonthlyReportRequest) -> MonthlyReportResult:
        asked = req if req.at is not None else req.model_copy(update={"at": workflow.now()})
        result: MonthlyReportResult = await workflow.execute_activity(
            "send_monthly_report",
            asked,
            result_type=MonthlyReportResult,
            start_to_close_timeout=timedelta(minutes=2),
            schedule_to_close_timeout=timedelta(hours=1),
            retry_policy=SEND,
        )
        return result
