"""What the working-day rule answers, and the record of a stopped clock it is asked about.

Plain values with no calendar behind them: :class:`SlaDue` is what an activity returns
to the workflow and what the CLI prints.
"""

from __future__ import annotations

import datetime as dt

from pydantic import AwareDatetime, BaseModel, ConfigDict


class SkippedHoliday(BaseModel):
    """A weekday holiday that the SLA window did not count as a working day."""

    model_config = ConfigDict(frozen=True)

    date: dt.date
    calendar: str
    name: str


class SlaDue(BaseModel):
    """The result of a deadline computation."""

    model_config = ConfigDict(frozen=True)

    day0: dt.date
    due_at: AwareDatetime
    warn_at: AwareDatetime | None
    # The contractual N, not the remainder after a stopped clock.
    working_days: int
    # Working days counted before the clock last restarted.
    already_elapsed: int = 0
    skipped: list[SkippedHoliday]
    # Working days the stopped clock did not count (a request with pauses only).
    paused_working_days: int = 0
    # The window (day 0 to the due day) reaches into a year whose holidays are
    # still a projection in one of the calendars: the deadline may move when
    # that year's decree is entered.
    provisional: bool = False
    provisional_years: list[int] = []


# One stop-the-clock interval: (start, end), end None while the clock is stopped.
StopInterval = tuple[dt.datetime, dt.datetime | None]


class ClockStoppedError(ValueError):
    """The clock is stopped (a pause with no end): no deadline exists until it restarts."""
