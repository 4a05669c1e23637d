"""Holiday calendars and the working-day SLA rule for report deadlines.

``calendars.working_days`` holds the pure computation (safe in Temporal's
workflow sandbox; its answer is a ``calendars.due.SlaDue``), built from
``calendars.days`` (instants at close of business, the next working day) over a
``calendars.calendar_set.CalendarSet`` (the calendars in play, decrees applied;
``calendars.registry`` says which calendar a code stands for).
``calendars.overrides`` reads the holiday-decree file and keeps calendar sets
current for activities and the CLI.

The list below is the package's public surface: the modules it draws from keep
no list of their own.
"""

from calendars.calendar_set import DEFAULT_CALENDARS, CalendarSet
from calendars.cambodia import Cambodia
from calendars.due import ClockStoppedError, SkippedHoliday, SlaDue, StopInterval
from calendars.overrides import (
    CalendarOverrides,
    CalendarService,
    HolidayOverride,
    HolidayOverrides,
    load_overrides,
    parse_overrides,
)
from calendars.provisional import VERIFIED_THROUGH, is_provisional
from calendars.registry import UnitedStatesFederal, get_calendar, known_calendar_codes
from calendars.working_days import (
    DEFAULT_CLOSE_OF_BUSINESS,
    DEFAULT_TZ,
    DEFAULT_WARN_RATIO,
    compute_due,
    elapsed_working_days,
    next_close_of_business,
)

__all__ = [
    "DEFAULT_CALENDARS",
    "DEFAULT_CLOSE_OF_BUSINESS",
    "DEFAULT_TZ",
    "DEFAULT_WARN_RATIO",
    "VERIFIED_THROUGH",
    "CalendarOverrides",
    "CalendarService",
    "CalendarSet",
    "Cambodia",
    "ClockStoppedError",
    "HolidayOverride",
    "HolidayOverrides",
    "SkippedHoliday",
    "SlaDue",
    "StopInterval",
    "UnitedStatesFederal",
    "compute_due",
    "elapsed_working_days",
    "get_calendar",
    "is_provisional",
    "known_calendar_codes",
    "load_overrides",
    "next_close_of_business",
    "parse_overrides",
]
