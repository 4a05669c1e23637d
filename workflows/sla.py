"""The SLA clock: a deadline from an activity, timers racing the report, stop and restart.

The clock owns its record (`SlaClockRecord`) and every change to it. It owns no timer
itself: `next_instant` tells the case which instant to race next (warning, breach, then a
reminder every working day), and the case re-reads it whenever the clock changes, so a
moved deadline moves the timer. Deadline arithmetic is always an activity result recorded
in history.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypedDict

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.case import ProgramTerms, SlaState, SlaView
    from models.sla import DeadlineRequest, ElapsedRequest, NextCloseRequest, Pause, RoundOutcome, SlaRule
    from models.sla_clock import DueDate, SlaClockRecord


class _LocalOptions(TypedDict):
    start_to_close_timeout: timedelta


# Deadline arithmetic is fast and local; the default retry policy retries it forever.
LOCAL: _LocalOptions = {"start_to_close_timeout": timedelta(seconds=20)}
ACTIVE = (SlaState.RUNNING, SlaState.WARNING, SlaState.BREACHED)


def rule_for(terms: ProgramTerms) -> SlaRule:
    return SlaRule(
        working_days=terms.sla_working_days,
        calendars=terms.calendars,
        timezone=terms.sla_timezone,
        close_of_business=terms.close_of_business,
        warn_ratio=terms.warn_ratio,
    )


class SlaClock:
    def __init__(self, terms: ProgramTerms, record: SlaClockRecord) -> None:
        self.rule = rule_for(terms)
        self._r = record

    # ---- what the case may read --------------------------------------------------------

    @property
    def state(self) -> SlaState:
        return self._r.state

    @property
    def due_at(self) -> datetime | None:
        return self._r.due_at

    @property
    def elapsed(self) -> int:
        return self._r.elapsed

    @property
    def reminders(self) -> int:
        return self._r.reminders

    @property
    def moves(self) -> int:
        return self._r.moves

    @property
    def active(self) -> bool:
        """Running toward (or past) a deadline: a holiday decree can move it."""
        return self._r.state in ACTIVE

    @property
    def published_deadline(self) -> datetime | None:
        return self._r.due_at if self._r.state is not SlaState.NOT_STARTED else None

    @staticmethod
    def empty_view() -> SlaView:
        return SlaView()

    def view(self) -> SlaView:
        r = self._r
        return SlaView(
            state=r.state,
            working_days=self.rule.working_days,
            elapsed_working_days=r.elapsed,
            day0=r.day0.isoformat() if r.day0 else None,
            due_at=r.due_at,
            warn_at=r.warn_at,
        )

    # ---- what the case may ask ---------------------------------------------------------

    async def start(self, received_at: datetime) -> None:
        """Records reached the specialist: a fresh clock with all N working days."""
        self._r.received_at = received_at
        self._r.elapsed = self._r.stretch_elapsed = self._r.paused_working_days = 0
        self._r.pauses = []
        self._r.warned = self._r.breached = False
        self._r.reminders = 0
        self._r.next_reminder = None
        await self._deadline(received_at)

    async def pause(self, at: datetime) -> None:
        r = self._r
        r.stretch_elapsed = await self._working_days_since_day0(at)
        r.elapsed += r.stretch_elapsed
        r.pauses.append(Pause(start=at))
        r.state = SlaState.PAUSED

    async def resume(self, at: datetime) -> None:
        r = self._r
        # Working days that passed while the clock stood still: the SLA report shows them.
        r.paused_working_days += max(await self._working_days_since_day0(at) - r.stretch_elapsed, 0)
        r.pauses[-1] = Pause(start=r.pauses[-1].start, end=at)
        # A breach before the pause does not carry over: the rule starts again from here.
        r.breached = False
        r.next_reminder = None
        await self._deadline(at)

    async def restart(self, at: datetime) -> None:
        """The delivery that starts (or restarts) the clock arrived late: count from `at`."""
        if self._r.pauses:
            self._r.pauses[-1] = Pause(start=self._r.pauses[-1].start, end=at)
        else:
            self._r.received_at = at
        await self._deadline(at)

    async def recompute(self, now: datetime) -> tuple[datetime, datetime] | None:
        """A holiday decree: the deadline again from the record; (old, new) if it moved."""
        r = self._r
        old = r.due_at
        assert old is not None and r.restarted_at is not None
        due = await self._due(r.restarted_at)
        if due.due_at == old:
            return None
        r.moves += 1
        r.day0, r.due_at = due.day0, due.due_at
        if not r.warned:
            r.warn_at = due.warn_at
            # No warning after the deadline: a deadline moved into the past breaches at once.
            if due.due_at <= now:
                r.warned, r.warn_at = True, None
                r.state = SlaState.WARNING
        if r.breached and due.due_at > now:
            # Moved back into the future: the breach stands, the reminders follow the new date.
            r.next_reminder = None
        return old, due.due_at

    def next_instant(self) -> datetime | None:
        r = self._r
        if r.state not in ACTIVE:
            return None
        if not r.warned and r.warn_at is not None:
            return r.warn_at
        if not r.breached:
            return r.due_at
        return r.next_reminder or r.due_at

    async def fired(self) -> str:
        """The raced instant arrived: advance and say which escalation it was."""
        r = self._r
        if not r.warned and r.warn_at is not None:
            r.warned = True
            r.state = SlaState.WARNING
            return "warning"
        assert r.due_at is not None
        after = r.due_at if not r.breached or r.next_reminder is None else r.next_reminder
        kind = "breach" if not r.breached else "reminder"
        if r.breached:
            r.reminders += 1
        r.breached = True
        r.state = SlaState.BREACHED
        r.next_reminder = await workflow.execute_local_activity(
            "sla_next_close", NextCloseRequest(rule=self.rule, after=after), result_type=datetime, **LOCAL
        )
        return kind

    def met(self) -> None:
        self._r.state = SlaState.MET

    def stop(self) -> None:
        """The round ended without a report (reassignment, cancel, close): no clock runs."""
        if self._r.state is not SlaState.MET:
            self._r.state = SlaState.NOT_STARTED

    def outcome(self, ended_at: datetime, report: bool, cancelled: bool) -> RoundOutcome:
        if cancelled:
            return RoundOutcome.CANCELLED
        if not report:
            return RoundOutcome.REASSIGNED
        late = self._r.breached or (self._r.due_at is not None and ended_at > self._r.due_at)
        return RoundOutcome.LATE if late else RoundOutcome.MET

    def round_facts(self) -> dict[str, object]:
        """The clock's part of the round's SLA record (models.sla.SlaRoundRecord)."""
        r = self._r
        return {
            "working_days": self.rule.working_days,
            "calendars": self.rule.calendars,
            "received_at": r.received_at,
            "due_at": r.due_at,
            "warned": r.warned,
            "breached": r.breached,
            "paused_working_days": r.paused_working_days,
        }

    # ---- the activities ----------------------------------------------------------------

    async def _working_days_since_day0(self, at: datetime) -> int:
        assert self._r.day0 is not None
        days: int = await workflow.execute_local_activity(
            "sla_elapsed", ElapsedRequest(rule=self.rule, day0=self._r.day0, at=at), result_type=int, **LOCAL
        )
        return days

    async def _due(self, restarted_at: datetime) -> DueDate:
        # The running stretch and the working days already used: the form every version of
        # the calendar activity answers the same (an empty `pauses` keeps that reading).
        # The clock keeps the whole pause record itself, for the round's SLA report.
        due: DueDate = await workflow.execute_local_activity(
            "sla_deadline",
            DeadlineRequest(
                rule=self.rule,
                received_at=restarted_at,
                already_elapsed=self._r.elapsed,
            ),
            result_type=DueDate,
            **LOCAL,
        )
        return due

    async def _deadline(self, restarted_at: datetime) -> None:
        r = self._r
        due = await self._due(restarted_at)
        r.restarted_at = restarted_at
        r.day0, r.due_at = due.day0, due.due_at
        r.warn_at = None if r.warned else due.warn_at
        r.state = SlaState.WARNING if r.warned else SlaState.RUNNING
