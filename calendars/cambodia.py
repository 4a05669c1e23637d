"""Cambodia public holidays as a workalendar calendar.

workalendar ships no Cambodian calendar, and the Khmer lunar holidays (Khmer
New Year, Visaka Bochea, Royal Ploughing Ceremony, Pchum Ben, Water Festival)
are not something to re-derive by hand, so this class takes its holiday table
from the ``holidays`` package (``holidays.KH``) and exposes it through the
workalendar API: ``holidays(year)``, ``is_working_day(day)``,
``add_working_days(...)`` and friends all work as on any other calendar.
"""

from __future__ import annotations

import datetime as dt

import holidays as holidays_lib
from workalendar.core import WesternCalendar  # type: ignore[import-untyped]


class Cambodia(WesternCalendar):  # type: ignore[misc]
    """Kingdom of Cambodia public holidays, as published by ``holidays.KH``."""

    # WesternCalendar contributes New Year's Day through FIXED_HOLIDAYS; the
    # table below is the single source of truth, so nothing is inherited.
    FIXED_HOLIDAYS: tuple[tuple[int, int, str], ...] = ()

    def get_calendar_holidays(self, year: int) -> list[tuple[dt.date, str]]:
        # Overriding this hook (rather than get_fixed_holidays and
        # get_variable_days) bypasses every rule WesternCalendar would add, so
        # a day is a holiday here exactly when holidays.KH says so. Names are
        # kept as given, including "A; B" when two holidays share a date.
        table = holidays_lib.KH(years=year)
        return sorted((day, str(name)) for day, name in table.items())
