"""Working-day arithmetic for the report-turnaround SLA.

The customer is promised a written report "within N working days after all
complete medical records have been received by the specialist". This module
turns that sentence into instants:

* a working day is Monday to Friday and a public holiday in none of the
  calendars in play (by default Cambodia and the US federal calendar);
* the clock starts when the records are received, read in the SLA time zone:
  that date is day 0 if it is a working day and receipt is strictly before
  close of business, otherwise day 0 is the next working day;
* the report is due at close of business of working day N after day 0;
* stopping the clock (specialist asks for more information): a working day
  after day 0 counts only when its close of business passes while the clock
  runs, so a pause costs exactly the working days it spans and no partial day
  is lost when the clock restarts (docs/sla.md has the rule and examples);
* a window that reaches into a year whose holidays are still a projection is
  marked provisional (:mod:`calendars.provisional`).

Nothing here reads a file at import time. At run time the only reads are of
packaged data (time-zone rules, the Cambodian holiday-name catalogue) when a
zone or a year is first needed, so the functions also work inside Temporal's
workflow sandbox; importing ``calendars`` through
``workflow.unsafe.imports_passed_through()`` spares each workflow run from
re-importing workalendar and holidays. The calendars in play are a
:class:`~calendars.calendar_set.CalendarSet`; reading the holiday-overrides
file lives in :mod:`calendars.overrides`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from calendars.calendar_set import CalendarSet
from calendars.days import (
    check_cob,
    cob_at,
    days_from,
    get_zone,
    next_working_day,
    nth_working_day_after,
    to_local,
)
from calendars.due import ClockStoppedError, SkippedHoliday, SlaDue, StopInterval

DEFAULT_TZ = "Asia/Phnom_Penh"
DEFAULT_CLOSE_OF_BUSINESS = dt.time(17, 0)
DEFAULT_WARN_RATIO = 0.8


# -- the rule's parts ------------------------------------------------------


def _day0(received_local: dt.datetime, calendars: CalendarSet, close_of_business: dt.time) -> dt.date:
    day = received_local.date()
    if calendars.is_working_day(day) and received_local.time() < close_of_business:
        return day
    return next_working_day(day, calendars)


def _skipped(start: dt.date, end: dt.date, calendars: CalendarSet) -> list[SkippedHoliday]:
    skipped: list[SkippedHoliday] = []
    day = start
    while day <= end:
        if day.weekday() < 5:
            skipped.extend(
                SkippedHoliday(date=day, calendar=code, name=name)
                for code, name in calendars.holiday_names(day)
            )
        day += dt.timedelta(days=1)
    return skipped


def _warn_day_number(warn_ratio: float | None, working_days: int) -> int | None:
    if warn_ratio is None:
        return None
    # round() first so that e.g. 0.7 * 10 == 7.000000000000001 gives 7.
    return math.ceil(round(warn_ratio * working_days, 9))


def _stops(
    received_local: dt.datetime, pauses: Sequence[StopInterval], zone: ZoneInfo
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The pauses as closed local intervals, checked against the record they come from."""
    stops: list[tuple[dt.datetime, dt.datetime]] = []
    for start, end in pauses:
        start_local = to_local(start, zone, "a pause's start")
        if start_local < received_local:
            raise ValueError(f"a pause starts at {start.isoformat()}, before the records were received")
        if end is None:
            raise ClockStoppedError(
                f"the clock has been stopped since {start.isoformat()}: no deadline until it restarts"
            )
        end_local = to_local(end, zone, "a pause's end")
        if end_local < start_local:
            raise ValueError(f"a pause ends at {end.isoformat()}, before it starts at {start.isoformat()}")
        stops.append((start_local, end_local))
    return stops


def _due_with_pauses(
    received_local: dt.datetime,
    day0: dt.date,
    working_days: int,
    calendars: CalendarSet,
    pauses: Sequence[StopInterval],
    *,
    zone: ZoneInfo,
    cob: dt.time,
    warn_ratio: float | None,
) -> SlaDue:
    stops = _stops(received_local, pauses, zone)
    last_restart = max(end for _, end in stops)
    warn_number = _warn_day_number(warn_ratio, working_days)
    counted = paused = before_restart = 0
    warn_at: dt.datetime | None = None
    day, close = day0, cob_at(day0, zone, cob)
    while counted < working_days:
        day = next_working_day(day, calendars)
        close = cob_at(day, zone, cob)
        # A close of business at the very instant the clock stopped was
        # reached while it ran (as with elapsed_working_days); one at the
        # instant it restarted was not, as a receipt at 17:00 is after hours.
        if any(start < close <= end for start, end in stops):
            paused += 1
            continue
        counted += 1
        if close <= last_restart:
            before_restart += 1
        if counted == warn_number:
            warn_at = close
    years = calendars.provisional_years(day0, day)
    return SlaDue(
        day0=day0,
        due_at=close,
        warn_at=warn_at,
        working_days=working_days,
        already_elapsed=before_restart,
        skipped=_skipped(day0, day, calendars),
        paused_working_days=paused,
        provisional=bool(years),
        provisional_years=years,
    )


# -- public computations ----------------------------------------------------


def compute_due(
    received_at: dt.datetime,
    working_days: int,
    calendars: CalendarSet,
    *,
    tz: str = DEFAULT_TZ,
    close_of_business: dt.time = DEFAULT_CLOSE_OF_BUSINESS,
    warn_ratio: float | None = DEFAULT_WARN_RATIO,
    already_elapsed: int = 0,
    pauses: Sequence[StopInterval] = (),
) -> SlaDue:
    """When the report is due, counted from receipt of the complete records.

    ``received_at`` is any aware instant; it is read in ``tz``.

    With ``pauses`` (every stop-the-clock interval since ``received_at``, the
    clock's whole record), a working day after day 0 counts only when its
    close of business passes while the clock runs: a close of business at a
    pause's start still counts, one at its end or inside it does not. A pause
    with no end raises :class:`ClockStoppedError`.

    The older form, without ``pauses``: after a stopped clock, pass the
    instant the information was supplied as ``received_at`` and the working
    days already used as ``already_elapsed``; the rule restarts from there
    with ``working_days - already_elapsed`` left (the day of the restart is a
    new day 0). The escalation warning stays at working day
    ``ceil(warn_ratio * N)`` of the original count, so in this form it is
    ``None`` once that day has been used up.
    """
    if working_days < 1:
        raise ValueError(f"working_days must be >= 1, got {working_days}")
    if already_elapsed < 0:
        raise ValueError(f"already_elapsed must be >= 0, got {already_elapsed}")
    if pauses and already_elapsed:
        raise ValueError("give either the pauses or already_elapsed, not both")
    if warn_ratio is not None and not 0 < warn_ratio < 1:
        raise ValueError(f"warn_ratio must be strictly between 0 and 1, got {warn_ratio}")
    zone = get_zone(tz)
    cob = check_cob(close_of_business)
    received_local = to_local(received_at, zone, "received_at")

    day0 = _day0(received_local, calendars, cob)
    if pauses:
        return _due_with_pauses(
            received_local, day0, working_days, calendars, pauses, zone=zone, cob=cob, warn_ratio=warn_ratio
        )
    remaining = working_days - already_elapsed
    due_day = nth_working_day_after(day0, max(remaining, 0), calendars)

    warn_at: dt.datetime | None = None
    warn_day_number = _warn_day_number(warn_ratio, working_days)
    if warn_day_number is not None and warn_day_number > already_elapsed:
        warn_at = cob_at(
            nth_working_day_after(day0, warn_day_number - already_elapsed, calendars), zone, cob
        )

    years = calendars.provisional_years(day0, due_day)
    return SlaDue(
        day0=day0,
        due_at=cob_at(due_day, zone, cob),
        warn_at=warn_at,
        working_days=working_days,
        already_elapsed=already_elapsed,
        skipped=_skipped(day0, due_day, calendars),
        provisional=bool(years),
        provisional_years=years,
    )


def elapsed_working_days(
    day0: dt.date,
    at: dt.datetime,
    calendars: CalendarSet,
    *,
    tz: str = DEFAULT_TZ,
    close_of_business: dt.time = DEFAULT_CLOSE_OF_BUSINESS,
) -> int:
    """Working days after ``day0`` whose close of business is at or before ``at``.

    This is what a stopped clock has used up: pausing at the close of business
    of working day k gives k.
    """
    zone = get_zone(tz)
    cob = check_cob(close_of_business)
    at_local = to_local(at, zone, "at")
    count = 0
    day = day0 + dt.timedelta(days=1)
    last = at_local.date()
    while day <= last:
        if calendars.is_working_day(day) and cob_at(day, zone, cob) <= at_local:
            count += 1
        day += dt.timedelta(days=1)
    return count


def next_close_of_business(
    after: dt.datetime,
    calendars: CalendarSet,
    *,
    tz: str = DEFAULT_TZ,
    close_of_business: dt.time = DEFAULT_CLOSE_OF_BUSINESS,
) -> dt.datetime:
    """Close of business of the first working day whose COB is strictly after ``after``.

    Used to repeat a breach reminder once per working day.
    """
    zone = get_zone(tz)
    cob = check_cob(close_of_business)
    after_local = to_local(after, zone, "after")
    for day in days_from(after_local.date()):
        if calendars.is_working_day(day):
            candidate = cob_at(day, zone, cob)
            if candidate > after_local:
                return candidate
    raise AssertionError("unreachable")  # pragma: no cover
