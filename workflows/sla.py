"""The SLA clock: a deadline from an activity, timers racing the report, stop and restart.

The clock owns no timer itself; `next_instant` tells the case workflow which instant to
race next (warning, breach, then a reminder every working day), and the deadline
arithmetic is always an activity result recorded in history.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TypedDict

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.calendar import (
        CalendarActivities,
        DeadlineRequest,
        ElapsedRequest,
        NextCloseRequest,
        SlaRule,
    )
    from calendars import SlaDue
    from models.case import ProgramTerms, SlaState, SlaView


class _LocalOptions(TypedDict):
    start_to_close_timeout: timedelta


# Deadline arithmetic is fast and local; the default retry policy retries it forever.
LOCAL: _LocalOptions = {"start_to_close_timeout": timedelta(seconds=20)}


def rule_for(terms: ProgramTerms) -> SlaRule:
    return SlaRule(
        working_days=terms.sla_working_days,
        calendars=terms.calendars,
        timezone=terms.sla_timezone,
        close_of_business=terms.close_of_business,
        warn_ratio=terms.warn_ratio,
    )


class SlaClock:
    def __init__(self, terms: ProgramTerms) -> None:
        self.rule = rule_for(terms)
        self.state = SlaState.NOT_STARTED
        self.day0: date | None = None
        self.due_at: datetime | None = None
        self.warn_at: datetime | None = None
        self.elapsed = 0
        self.warned = False
        self.breached = False
        self.next_reminder: datetime | None = None
        self.reminders = 0

    async def start(self, received_at: datetime) -> None:
        """Records reached the specialist: a fresh clock with all N working days."""
        self.elapsed = 0
        self.warned = self.breached = False
        self.reminders = 0
        await self._deadline(received_at)

    async def pause(self, at: datetime) -> None:
        assert self.day0 is not None
        self.elapsed += await workflow.execute_local_activity_method(
            CalendarActivities.sla_elapsed,
            ElapsedRequest(rule=self.rule, day0=self.day0, at=at),
            **LOCAL,
        )
        self.state = SlaState.PAUSED

    async def resume(self, at: datetime) -> None:
        # A breach before the pause does not carry over: the rule starts again from here.
        self.breached = False
        self.next_reminder = None
        await self._deadline(at)

    async def _deadline(self, received_at: datetime) -> None:
        due: SlaDue = await workflow.execute_local_activity_method(
            CalendarActivities.sla_deadline,
            DeadlineRequest(rule=self.rule, received_at=received_at, already_elapsed=self.elapsed),
            **LOCAL,
        )
        self.day0, self.due_at = due.day0, due.due_at
        self.warn_at = None if self.warned else due.warn_at
        self.state = SlaState.WARNING if self.warned else SlaState.RUNNING

    def next_instant(self) -> datetime | None:
        if self.state is SlaState.PAUSED:
            return None
        if not self.warned and self.warn_at is not None:
            return self.warn_at
        if not self.breached:
            return self.due_at
        return self.next_reminder

    async def fired(self) -> str:
        """The raced instant arrived: advance and say which escalation it was."""
        if not self.warned and self.warn_at is not None:
            self.warned = True
            self.state = SlaState.WARNING
            return "warning"
        assert self.due_at is not None
        after = self.due_at if not self.breached else self.next_reminder
        kind = "breach" if not self.breached else "reminder"
        if self.breached:
            self.reminders += 1
        self.breached = True
        self.state = SlaState.BREACHED
        self.next_reminder = await workflow.execute_local_activity_method(
            CalendarActivities.sla_next_close,
            NextCloseRequest(rule=self.rule, after=after),
            **LOCAL,
        )
        return kind

    def met(self) -> None:
        self.state = SlaState.MET

    @staticmethod
    def empty_view() -> SlaView:
        return SlaView()

    def view(self) -> SlaView:
        return SlaView(
            state=self.state,
            working_days=self.rule.working_days,
            elapsed_working_days=self.elapsed,
            day0=self.day0.isoformat() if self.day0 else None,
            due_at=self.due_at,
            warn_at=self.warn_at,
        )
