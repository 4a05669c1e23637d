"""The monthly report's messages: what the Schedule's run asks, and what the email activity did."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class MonthlyReportRequest(BaseModel):
    """Send the month before `at`'s month its SLA and outcomes report, if `at` (ICT) is the
    month's first KH working day; `force` sends it whatever the day (an operator's re-run)."""

    at: datetime | None = None  # the run's own time when None (a Schedule's action has no clock)
    force: bool = False


class MonthlyReportResult(BaseModel):
    month: str
    sent: bool
    reason: str  # "sent", "already sent", or why not today
