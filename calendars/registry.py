"""Calendar codes: which workalendar calendar each code in a program or a decree file stands for.

Every other module checks a code, or turns it into a calendar, through here, so a code
is checked, and spelled, one way everywhere.
"""

from __future__ import annotations

import datetime as dt
from typing import cast

import workalendar.usa
from workalendar.core import Calendar

from calendars.cambodia import Cambodia


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


def normalise_code(code: object) -> str:
    """``code`` as the registry spells it ("us-tx " is "US-TX"); an unknown code is a ValueError.

    ``code`` is whatever the caller was given (a YAML key may be a number); the
    message quotes it as given.
    """
    key = str(code).strip().upper()
    if key not in _CALENDAR_CLASSES:
        raise ValueError(f"unknown calendar code {code!r}; valid codes: " + ", ".join(known_calendar_codes()))
    return key


def get_calendar(code: str) -> Calendar:
    """A fresh workalendar calendar for ``code``.

    ``"KH"`` is Cambodia, ``"US"`` the US federal calendar (observed days and
    Juneteenth included) and ``"US-XX"`` the workalendar calendar of that
    state or territory, e.g. ``"US-TX"`` for Texas.
    """
    return _CALENDAR_CLASSES[normalise_code(code)]()


def raw_holidays(calendar: Calendar, year: int) -> list[tuple[dt.date, str]]:
    """``calendar``'s own holiday list for ``year``, before any decree is applied."""
    # workalendar is untyped; this is the one place its result is trusted.
    return cast("list[tuple[dt.date, str]]", calendar.holidays(year))
