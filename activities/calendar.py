"""Deadlines: the SLA rule evaluated against the holiday tables, as (local) activities.

Holiday tables change with package upgrades and decrees, so the workflow never computes
a deadline itself: it records this activity's answer in history and replays that.

A request the rule cannot answer (a pause before the records arrived, a clock stopped
with no end) is a non-retryable `ApplicationError`; a malformed overrides file is not:
the activity retries until the operator fixes the file.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from calendars import (
    CalendarService,
    ClockStoppedError,
    SlaDue,
    compute_due,
    elapsed_working_days,
    next_close_of_business,
)
from models.sla import DeadlineRequest, ElapsedRequest, NextCloseRequest, SlaRule

__all__ = ["CalendarActivities", "DeadlineRequest", "ElapsedRequest", "NextCloseRequest", "SlaRule"]


class CalendarActivities:
    def __init__(self, service: CalendarService) -> None:
        self.service = service

    # Holiday tables may be (re)built and the overrides file re-read: all off the event loop.

    @activity.defn(name="sla_deadline")
    async def sla_deadline(self, req: DeadlineRequest) -> SlaDue:
        def compute() -> SlaDue:
            calendars = self.service.calendars(req.rule.calendars)
            try:
                return compute_due(
                    req.received_at,
                    req.rule.working_days,
                    calendars,
                    tz=req.rule.timezone,
                    close_of_business=req.rule.cob,
                    warn_ratio=req.rule.warn_ratio,
                    # An empty record is the older form: already_elapsed from a restart.
                    already_elapsed=req.already_elapsed if not req.pauses else 0,
                    pauses=[(p.start, p.end) for p in req.pauses],
                )
            except ClockStoppedError as exc:
                raise ApplicationError(str(exc), non_retryable=True, type="ClockStopped") from exc
            except ValueError as exc:
                raise ApplicationError(str(exc), non_retryable=True, type="InvalidSlaRequest") from exc

        return await asyncio.to_thread(compute)

    @activity.defn(name="sla_elapsed")
    async def sla_elapsed(self, req: ElapsedRequest) -> int:
        def compute() -> int:
            return elapsed_working_days(
                req.day0,
                req.at,
                self.service.calendars(req.rule.calendars),
                tz=req.rule.timezone,
                close_of_business=req.rule.cob,
            )

        return await asyncio.to_thread(compute)

    @activity.defn(name="sla_next_close")
    async def sla_next_close(self, req: NextCloseRequest) -> datetime:
        def compute() -> datetime:
            return next_close_of_business(
                req.after,
                self.service.calendars(req.rule.calendars),
                tz=req.rule.timezone,
                close_of_business=req.rule.cob,
            )

        return await asyncio.to_thread(compute)
