"""What a new holiday-overrides file changes: the dates that stopped or started being working days.

The calendar watch compares the file in force with the file just saved. Only a date whose
working-day status changed in some calendar can move a deadline; a renamed holiday, a
weekend date or a reformatted file moves none. A year newly declared decreed (or no longer
declared) changes no date but changes whether windows in it are provisional, so it is
reported too.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict

from calendars.calendar_set import CalendarSet
from calendars.overrides import HolidayOverrides

__all__ = ["OverridesDiff", "diff_overrides"]

# The decree's name goes into a case's timeline and notices (CalendarChange.decree).
_DECREE_NAME_MAX = 120


class OverridesDiff(BaseModel):
    """Dates that became holidays, dates that stopped being ones, years whose status changed."""

    model_config = ConfigDict(frozen=True)

    added: list[dt.date] = []
    removed: list[dt.date] = []
    decreed_years: list[int] = []
    decree: str = ""

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.decreed_years)

    @property
    def earliest(self) -> dt.date | None:
        """The first day the change can touch: deadlines before it cannot move."""
        days = [*self.added, *self.removed, *(dt.date(y, 1, 1) for y in self.decreed_years)]
        return min(days, default=None)


def _mentioned(overrides: HolidayOverrides) -> set[dt.date]:
    return {
        day for change in overrides.root.values() for day in [*(h.date for h in change.add), *change.remove]
    }


def _decreed(overrides: HolidayOverrides, code: str) -> list[int]:
    change = overrides.root.get(code)
    return list(change.decreed) if change is not None else []


def _decree_name(old: HolidayOverrides, new: HolidayOverrides, codes: set[str]) -> str:
    names = []
    for code in sorted(codes):
        change = new.root.get(code) or old.root.get(code)
        if change is not None and change.decree and change.decree not in names:
            names.append(change.decree)
    name = "; ".join(names) or "holiday overrides updated"
    return name if len(name) <= _DECREE_NAME_MAX else name[: _DECREE_NAME_MAX - 1] + "…"


def diff_overrides(old: HolidayOverrides, new: HolidayOverrides) -> OverridesDiff:
    """The working-day changes from ``old`` to ``new``, calendar by calendar."""
    codes = set(old.root) | set(new.root)
    candidates = sorted(_mentioned(old) | _mentioned(new))
    added: set[dt.date] = set()
    removed: set[dt.date] = set()
    years: set[int] = set()
    touched: set[str] = set()
    for code in codes:
        before, after = CalendarSet((code,), old), CalendarSet((code,), new)
        gained = {d for d in candidates if before.is_working_day(d) and not after.is_working_day(d)}
        lost = {d for d in candidates if after.is_working_day(d) and not before.is_working_day(d)}
        declared = {*_decreed(old, code), *_decreed(new, code)}
        flipped = {y for y in declared if before.is_provisional(y, code) != after.is_provisional(y, code)}
        if gained or lost or flipped:
            touched.add(code)
        added |= gained
        removed |= lost
        years |= flipped
    return OverridesDiff(
        added=sorted(added),
        removed=sorted(removed),
        decreed_years=sorted(years),
        decree=_decree_name(old, new, touched) if touched else "",
    )
