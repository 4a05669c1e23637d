"""Cambodia public holidays as a workalendar calendar.

workalendar ships no Cambodian calendar, and the Khmer lunar holidays (Khmer
New Year, Visaka Bochea, Royal Ploughing Ceremony, Pchum Ben, Water Festival)
are not something to re-derive by hand, so this class takes its holiday table
from the ``holidays`` package (``holidays.KH``) and exposes it through the
workalendar API: ``holidays(year)``, ``is_working_day(day)``,
``add_working_days(...)`` and friends all work as on any other calendar.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from typing import Any

from holidays.countries.cambodia import Cambodia as KhHolidays
from workalendar.core import WesternCalendar

# Imported by module path rather than through holidays.KH, whose lazy lookup
# would otherwise first load the country modules at call time, inside a
# running workflow.
#
# holidays.KH's own default language is Khmer and, left unset, the name
# depends on the process's LANG (Khmer, Thai or English); pin it so reports
# and SkippedHoliday names are the same on every machine.
HOLIDAY_NAME_LANGUAGE = "en_US"


def _kh_holidays(year: int) -> dict[dt.date, str]:
    # Holiday names come from gettext catalogues shipped in the holidays
    # package. Temporal's workflow sandbox forbids gettext.translation unless
    # the import was passed through; reading a packaged catalogue is
    # deterministic, so lift the restriction for this call only.
    with _sandbox_unrestricted():
        table = KhHolidays(years=year, language=HOLIDAY_NAME_LANGUAGE)  # type: ignore[no-untyped-call]
        return {day: str(name) for day, name in table.items()}


def _sandbox_unrestricted() -> contextlib.AbstractContextManager[Any]:
    # Only a process that runs workflows has loaded the SDK's workflow module; the CLI's
    # `smo sla due` and `smo calendar` need not pay for importing it.
    workflow = sys.modules.get("temporalio.workflow")
    if workflow is not None and workflow.unsafe.in_sandbox():
        return workflow.unsafe.sandbox_unrestricted()  # type: ignore[no-any-return]
    return contextlib.nullcontext()


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
        return sorted(_kh_holidays(year).items())
