"""Reading instants in the SLA time zone and stepping from one working day to the next.

The working-day rule (:mod:`calendars.working_days`) is built from these: an instant read
in the SLA zone, close of business on a given day, the next working day of a
:class:`~calendars.calendar_set.CalendarSet`. The only reads are of packaged time-zone
rules, on a zone's first use, so they work inside Temporal's workflow sandbox.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calendars.calendar_set import CalendarSet

# A run of non-working days longer than this can only come from a broken
# overrides file; failing loudly beats looping for ever.
MAX_SCAN_DAYS = 3660


@lru_cache(maxsize=32)
def get_zone(tz: str) -> ZoneInfo:
    try:
        zone = ZoneInfo(tz)
        if type(zone) is not ZoneInfo:
            # Temporal's workflow sandbox wraps what the ZoneInfo constructor
            # returns in a proxy that datetime's C code rejects as a tzinfo;
            # ZoneInfo.no_cache hands back a plain instance there.
            zone = ZoneInfo.no_cache(tz)
        return zone
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc


def check_cob(close_of_business: dt.time) -> dt.time:
    if close_of_business.tzinfo is not None:
        raise ValueError(
            "close_of_business must be a naive wall-clock time; the SLA time zone is given separately"
        )
    return close_of_business


def to_local(instant: dt.datetime, zone: ZoneInfo, what: str) -> dt.datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {instant.isoformat()}")
    return instant.astimezone(zone)


def cob_at(day: dt.date, zone: ZoneInfo, close_of_business: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, close_of_business, tzinfo=zone)


def days_from(start: dt.date) -> Iterator[dt.date]:
    for offset in range(MAX_SCAN_DAYS):
        yield start + dt.timedelta(days=offset)
    raise ValueError(f"no working day within {MAX_SCAN_DAYS} days of {start}; check the holiday overrides")


def next_working_day(after: dt.date, calendars: CalendarSet) -> dt.date:
    for day in days_from(after + dt.timedelta(days=1)):
        if calendars.is_working_day(day):
            return day
    raise AssertionError("unreachable")  # pragma: no cover


def nth_working_day_after(day0: dt.date, n: int, calendars: CalendarSet) -> dt.date:
    day = day0
    for _ in range(n):
        day = next_working_day(day, calendars)
    return day
