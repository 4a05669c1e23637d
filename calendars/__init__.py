"""Holiday calendars and the working-day SLA rule for report deadlines.

``calendars.working_days`` holds the pure computation (safe in Temporal's
workflow sandbox); ``calendars.overrides`` reads the holiday-decree file and
keeps calendar sets current for activities and the CLI.
"""

from calendars.cambodia import Cambodia
from calendars.overrides import (
    CalendarOverrides,
    CalendarService,
    HolidayOverride,
    HolidayOverrides,
    load_overrides,
    parse_overrides,
)
from calendars.provisional import VERIFIED_THROUGH, is_provisional
from calendars.working_days import (
    DEFAULT_CALENDARS,
    DEFAULT_CLOSE_OF_BUSINESS,
    DEFAULT_TZ,
    DEFAULT_WARN_RATIO,
    CalendarSet,
    ClockStoppedError,
    SkippedHoliday,
    SlaDue,
    StopInterval,
    UnitedStatesFederal,
    compute_due,
    elapsed_working_days,
    get_calendar,
    known_calendar_codes,
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
