"""A set of holiday calendars in force together, with the holiday decrees applied.

The SLA counts a day as a working day only when every calendar in play has it as one
(by default Cambodia and the US federal calendar). :class:`CalendarSet` answers that
question, and which holidays fell on a day and whether a year is still a projection,
from holiday tables it builds once per year. It reads no file: the decrees come in as a
``HolidayOverrides`` value (:mod:`calendars.overrides` reads the file).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from calendars.provisional import is_provisional
from calendars.registry import get_calendar, normalise_code, raw_holidays

if TYPE_CHECKING:
    from calendars.overrides import HolidayOverrides

DEFAULT_CALENDARS: tuple[str, ...] = ("KH", "US")


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
        normalised = tuple(dict.fromkeys(normalise_code(c) for c in codes))
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
        calendar = get_calendar(code)
        base = [(day, name) for day, name in raw_holidays(calendar, year) if day.year == year]
        # An observance can land in the neighbouring year (New Year's Day on a
        # Saturday is observed on 31 December). workalendar lists such a day
        # under either year, sometimes both with different labels: take it
        # from a neighbour only when this year's list lacks the date.
        seen = {day for day, _ in base}
        for other in (year - 1, year + 1):
            if dt.MINYEAR <= other <= dt.MAXYEAR:
                for day, name in raw_holidays(calendar, other):
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
        key = normalise_code(code)
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
        key = normalise_code(code)
        return is_provisional(key, year, self._decreed.get(key, frozenset()))

    def provisional_years(self, first: dt.date, last: dt.date) -> list[int]:
        """The years from ``first`` to ``last`` that are provisional in any calendar of the set."""
        return [
            year
            for year in range(first.year, last.year + 1)
            if any(self.is_provisional(year, code) for code in self.codes)
        ]
