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
re-importing workalendar and holidays. Reading the holiday-overrides file
lives in :mod:`calendars.overrides`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import workalendar.usa
from pydantic import AwareDatetime, BaseModel, ConfigDict
from workalendar.core import Calendar

from calendars.cambodia import Cambodia
from calendars.provisional import is_provisional

if TYPE_CHECKING:
    from calendars.overrides import HolidayOverrides

__all__ = [
    "DEFAULT_CALENDARS",
    "DEFAULT_CLOSE_OF_BUSINESS",
    "DEFAULT_TZ",
    "DEFAULT_WARN_RATIO",
    "CalendarSet",
    "ClockStoppedError",
    "SkippedHoliday",
    "SlaDue",
    "StopInterval",
    "UnitedStatesFederal",
    "compute_due",
    "elapsed_working_days",
    "get_calendar",
    "known_calendar_codes",
    "next_close_of_business",
]

DEFAULT_CALENDARS: tuple[str, ...] = ("KH", "US")
DEFAULT_TZ = "Asia/Phnom_Penh"
DEFAULT_CLOSE_OF_BUSINESS = dt.time(17, 0)
DEFAULT_WARN_RATIO = 0.8

# A run of non-working days longer than this can only come from a broken
# overrides file; failing loudly beats looping for ever.
_MAX_SCAN_DAYS = 3660


class UnitedStatesFederal(workalendar.usa.UnitedStates):  # type: ignore[misc]
    """US federal holidays, Juneteenth included.

    workalendar 17's ``UnitedStates`` leaves Juneteenth out by default
    although it has been a federal holiday since 2021; its weekend shifting
    then yields the observed day as for every other federal holiday.
    """

    include_juneteenth = True


def _us_state_classes() -> dict[str, type[Calendar]]:
    # workalendar tags each class with its ISO 3166-2 code through
    # @iso_register; reading the tag here avoids importing
    # workalendar.registry, which imports every continent's module.
    found: dict[str, type[Calendar]] = {}
    for name in workalendar.usa.__all__:
        cls = getattr(workalendar.usa, name)
        tag = getattr(cls, "__iso_code", None)
        if tag and tag[1] == cls.__name__ and tag[0].startswith("US-"):
            found[tag[0]] = cls
    return found


_CALENDAR_CLASSES: dict[str, type[Calendar]] = {
    "KH": Cambodia,
    "US": UnitedStatesFederal,
    **_us_state_classes(),
}


def known_calendar_codes() -> list[str]:
    """Every calendar code :func:`get_calendar` accepts, sorted."""
    return sorted(_CALENDAR_CLASSES)


def _normalise_code(code: str) -> str:
    key = code.strip().upper()
    if key not in _CALENDAR_CLASSES:
        raise ValueError(f"unknown calendar code {code!r}; valid codes: " + ", ".join(known_calendar_codes()))
    return key


def get_calendar(code: str) -> Calendar:
    """A fresh workalendar calendar for ``code``.

    ``"KH"`` is Cambodia, ``"US"`` the US federal calendar (observed days and
    Juneteenth included) and ``"US-XX"`` the workalendar calendar of that
    state or territory, e.g. ``"US-TX"`` for Texas.
    """
    return _CALENDAR_CLASSES[_normalise_code(code)]()


def _raw_holidays(calendar: Calendar, year: int) -> list[tuple[dt.date, str]]:
    # workalendar is untyped; this is the one place its result is trusted.
    return cast("list[tuple[dt.date, str]]", calendar.holidays(year))


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


class CalendarSet:
    """The union of several holiday calendars, with overrides applied.

    A day is a working day when it is Monday to Friday and a holiday in none
    of the calendars. Holiday tables are built per (calendar, year) and
    memoised unless ``cache=False``, which rebuilds them on every lookup (only
    useful to measure what the cache buys). Overrides for calendars outside
    the set are ignored.
    """

    def __init__(
        self,
        codes: Sequence[str] = DEFAULT_CALENDARS,
        overrides: HolidayOverrides | None = None,
        *,
        cache: bool = True,
    ) -> None:
        if isinstance(codes, str):
            raise TypeError("codes must be a sequence of calendar codes, not a str")
        normalised = tuple(dict.fromkeys(_normalise_code(c) for c in codes))
        if not normalised:
            raise ValueError("at least one calendar code is required")
        self.codes: tuple[str, ...] = normalised
        self._add: dict[str, list[tuple[dt.date, str]]] = {}
        self._remove: dict[str, frozenset[dt.date]] = {}
        self._decreed: dict[str, frozenset[int]] = {}
        if overrides is not None:
            for code, change in overrides.root.items():
                key = code.strip().upper()
                if key in normalised:
                    self._add[key] = [(h.date, h.name) for h in change.add]
                    self._remove[key] = frozenset(change.remove)
                    self._decreed[key] = frozenset(change.decreed)
        self.cache = cache
        self._tables: dict[int, dict[dt.date, list[tuple[str, str]]]] = {}

    def __repr__(self) -> str:
        return f"CalendarSet(codes={self.codes!r}, cache={self.cache})"

    def _build_holidays(self, year: int, code: str) -> list[tuple[dt.date, str]]:
        # A new calendar instance each time: workalendar memoises per instance,
        # and the uncached path must really recompute.
        calendar = _CALENDAR_CLASSES[code]()
        base = [(day, name) for day, name in _raw_holidays(calendar, year) if day.year == year]
        # An observance can land in the neighbouring year (New Year's Day on a
        # Saturday is observed on 31 December). workalendar lists such a day
        # under either year, sometimes both with different labels: take it
        # from a neighbour only when this year's list lacks the date.
        seen = {day for day, _ in base}
        for other in (year - 1, year + 1):
            if dt.MINYEAR <= other <= dt.MAXYEAR:
                for day, name in _raw_holidays(calendar, other):
                    if day.year == year and day not in seen:
                        base.append((day, name))
                        seen.add(day)
        removed = self._remove.get(code, frozenset())
        days = [(day, name) for day, name in base if day not in removed]
        # Removals first, then additions, so "remove X, add X renamed" works.
        for day, name in self._add.get(code, []):
            if day.year == year and (day, name) not in days:
                days.append((day, name))
        return sorted(days)

    def _build_table(self, year: int) -> dict[dt.date, list[tuple[str, str]]]:
        table: dict[dt.date, list[tuple[str, str]]] = {}
        for code in self.codes:
            for day, name in self._build_holidays(year, code):
                table.setdefault(day, []).append((code, name))
        return table

    def _table(self, year: int) -> dict[dt.date, list[tuple[str, str]]]:
        if not self.cache:
            return self._build_table(year)
        table = self._tables.get(year)
        if table is None:
            table = self._tables[year] = self._build_table(year)
        return table

    def holidays(self, year: int, code: str) -> list[tuple[dt.date, str]]:
        """``code``'s holidays in ``year``, overrides applied, sorted by date."""
        key = _normalise_code(code)
        if key not in self.codes:
            raise ValueError(f"calendar {key!r} is not in this set {self.codes!r}")
        return [
            (day, name)
            for day, entries in sorted(self._table(year).items())
            for entry_code, name in entries
            if entry_code == key
        ]

    def holiday_names(self, day: dt.date) -> list[tuple[str, str]]:
        """(calendar code, holiday name) for every calendar that has ``day`` off."""
        return list(self._table(day.year).get(day, []))

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() < 5 and day not in self._table(day.year)

    def is_provisional(self, year: int, code: str) -> bool:
        """Whether ``code``'s holidays for ``year`` are a projection, not yet decreed."""
        key = _normalise_code(code)
        return is_provisional(key, year, self._decreed.get(key, frozenset()))

    def provisional_years(self, first: dt.date, last: dt.date) -> list[int]:
        """The years from ``first`` to ``last`` that are provisional in any calendar of the set."""
        return [
            year
            for year in range(first.year, last.year + 1)
            if any(self.is_provisional(year, code) for code in self.codes)
        ]


# -- time helpers -----------------------------------------------------------


@lru_cache(maxsize=32)
def _zone(tz: str) -> ZoneInfo:
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


def _check_cob(close_of_business: dt.time) -> dt.time:
    if close_of_business.tzinfo is not None:
        raise ValueError(
            "close_of_business must be a naive wall-clock time; the SLA time zone is given separately"
        )
    return close_of_business


def _local(instant: dt.datetime, zone: ZoneInfo, what: str) -> dt.datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {instant.isoformat()}")
    return instant.astimezone(zone)


def _cob_at(day: dt.date, zone: ZoneInfo, close_of_business: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, close_of_business, tzinfo=zone)


def _days_from(start: dt.date) -> Iterator[dt.date]:
    for offset in range(_MAX_SCAN_DAYS):
        yield start + dt.timedelta(days=offset)
    raise ValueError(f"no working day within {_MAX_SCAN_DAYS} days of {start}; check the holiday overrides")


def _next_working_day(after: dt.date, calendars: CalendarSet) -> dt.date:
    for day in _days_from(after + dt.timedelta(days=1)):
        if calendars.is_working_day(day):
            return day
    raise AssertionError("unreachable")  # pragma: no cover


def _nth_working_day_after(day0: dt.date, n: int, calendars: CalendarSet) -> dt.date:
    day = day0
    for _ in range(n):
        day = _next_working_day(day, calendars)
    return day


def _day0(received_local: dt.datetime, calendars: CalendarSet, close_of_business: dt.time) -> dt.date:
    day = received_local.date()
    if calendars.is_working_day(day) and received_local.time() < close_of_business:
        return day
    return _next_working_day(day, calendars)


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
        start_local = _local(start, zone, "a pause's start")
        if start_local < received_local:
            raise ValueError(f"a pause starts at {start.isoformat()}, before the records were received")
        if end is None:
            raise ClockStoppedError(
                f"the clock has been stopped since {start.isoformat()}: no deadline until it restarts"
            )
        end_local = _local(end, zone, "a pause's end")
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
    day, close = day0, _cob_at(day0, zone, cob)
    while counted < working_days:
        day = _next_working_day(day, calendars)
        close = _cob_at(day, zone, cob)
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
    zone = _zone(tz)
    cob = _check_cob(close_of_business)
    received_local = _local(received_at, zone, "received_at")

    day0 = _day0(received_local, calendars, cob)
    if pauses:
        return _due_with_pauses(
            received_local, day0, working_days, calendars, pauses, zone=zone, cob=cob, warn_ratio=warn_ratio
        )
    remaining = working_days - already_elapsed
    due_day = _nth_working_day_after(day0, max(remaining, 0), calendars)

    warn_at: dt.datetime | None = None
    warn_day_number = _warn_day_number(warn_ratio, working_days)
    if warn_day_number is not None and warn_day_number > already_elapsed:
        warn_at = _cob_at(
            _nth_working_day_after(day0, warn_day_number - already_elapsed, calendars), zone, cob
        )

    years = calendars.provisional_years(day0, due_day)
    return SlaDue(
        day0=day0,
        due_at=_cob_at(due_day, zone, cob),
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
    zone = _zone(tz)
    cob = _check_cob(close_of_business)
    at_local = _local(at, zone, "at")
    count = 0
    day = day0 + dt.timedelta(days=1)
    last = at_local.date()
    while day <= last:
        if calendars.is_working_day(day) and _cob_at(day, zone, cob) <= at_local:
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
    zone = _zone(tz)
    cob = _check_cob(close_of_business)
    after_local = _local(after, zone, "after")
    for day in _days_from(after_local.date()):
        if calendars.is_working_day(day):
            candidate = _cob_at(day, zone, cob)
            if candidate > after_local:
                return candidate
    raise AssertionError("unreachable")  # pragma: no cover
