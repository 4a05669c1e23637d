"""The consult slot rule: which times a member and a specialist can talk, in both zones.

Pure and deterministic (no I/O, no clock): the caller passes "now", the roster's hours, the
other booked consults and the case's ``CalendarSet``. A slot starts on the hour or half hour and
must lie, whole, within the specialist's hours on the specialist's local date and within the
member's hours on the member's local date, on neither a Cambodian public holiday (the member's
local date) nor a US one (the specialist's local date), after the notice and not over another
consult. ``check`` names the first rule a slot breaks, in plain words.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calendars.calendar_set import CalendarSet
from models.vocabulary import N_

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MEMBER_ZONE = "Asia/Phnom_Penh"
MEMBER_HOURS = "08:00-21:00"  # every day, in the member's zone (a portal setting comes later)
HORIZON_WORKING_DAYS = 10
STEP = dt.timedelta(minutes=30)

# Why a slot is refused, in plain words: English for the API, the member's language on the
# portal (each is in the catalog).
NO_OFFSET = N_("no UTC offset")
NOT_ON_GRID = N_("not on the hour or half hour")
TOO_SOON = N_("too short notice")
TOO_FAR = N_("too far ahead")
SPECIALIST_HOURS = N_("outside the specialist's hours")
MEMBER_HOURS_REASON = N_("outside the member's hours")
KH_HOLIDAY = N_("a public holiday in Cambodia")
US_HOLIDAY = N_("a public holiday in the United States")
TAKEN = N_("taken")

Span = tuple[dt.time, dt.time]
_SPAN = re.compile(r"^([01]\d|2[0-3]):([03]0)-([01]\d|2[0-3]|24):([03]0)$")


def parse_span(text: str) -> Span:
    """ "06:00-08:00" → (06:00, 08:00): on the hour or half hour, start before end, within one day."""
    found = _SPAN.match(text.strip()) if isinstance(text, str) else None
    if found is None:
        raise ValueError(f"hours {text!r} are not HH:MM-HH:MM on the hour or half hour")
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    if (h2, m2) > (24, 0):
        raise ValueError(f"hours {text!r} end after midnight")
    start = dt.time(h1, m1)
    end = dt.time.max if (h2, m2) == (24, 0) else dt.time(h2, m2)
    if end <= start:
        raise ValueError(f"hours {text!r} end before they start")
    return start, end


def format_span(span: Span) -> str:
    start, end = span
    return f"{start:%H:%M}-" + ("24:00" if end == dt.time.max else f"{end:%H:%M}")


def parse_week(raw: Mapping[str, Sequence[str]] | None) -> dict[int, list[Span]]:
    """{"mon": ["06:00-08:00"], …} → {0: [(06:00, 08:00)], …}; an unknown day is an error."""
    week: dict[int, list[Span]] = {}
    if raw is None:
        return week
    if not isinstance(raw, Mapping):
        raise ValueError("consult hours must map weekdays (mon … sun) to lists of HH:MM-HH:MM")
    for day, spans in raw.items():
        key = str(day).strip().lower()
        if key not in WEEKDAYS:
            raise ValueError(f"consult hours: unknown weekday {day!r} (use mon … sun)")
        if isinstance(spans, str) or not isinstance(spans, Sequence):
            raise ValueError(f"consult hours for {key}: a list of HH:MM-HH:MM")
        parsed = sorted(parse_span(s) for s in spans)
        for (_, end), (start, _) in itertools.pairwise(parsed):
            if start < end:
                raise ValueError(f"consult hours for {key} overlap")
        week[WEEKDAYS.index(key)] = parsed
    return week


def parse_time_off(raw: Iterable[Mapping[str, object]] | None) -> list[tuple[dt.date, dt.date]]:
    """[{from: 2026-12-24, to: 2026-12-27}] → inclusive date ranges, local to the specialist."""
    out: list[tuple[dt.date, dt.date]] = []
    for item in raw or []:
        if not isinstance(item, Mapping) or set(item) != {"from", "to"}:
            raise ValueError("time off entries are {from: YYYY-MM-DD, to: YYYY-MM-DD}")
        first, last = (_date(item[k]) for k in ("from", "to"))
        if last < first:
            raise ValueError(f"time off ends ({last}) before it starts ({first})")
        out.append((first, last))
    return out


def _date(value: object) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"time off date {value!r} is not YYYY-MM-DD") from None


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


@dataclass(frozen=True)
class Side:
    """One party's hours per weekday in their own zone, and the dates they are away."""

    zone: ZoneInfo
    week: Mapping[int, Sequence[Span]]
    time_off: Sequence[tuple[dt.date, dt.date]] = ()

    def fits(self, start: dt.datetime, end: dt.datetime) -> bool:
        """Whether [start, end) lies inside one span of hours on the local date it starts on."""
        a, b = start.astimezone(self.zone), end.astimezone(self.zone)
        if any(first <= a.date() <= last for first, last in self.time_off):
            return False
        end_time = b.time() if b.date() == a.date() else (dt.time.max if b.time() == dt.time(0) else None)
        if end_time is None:
            return False
        return any(s <= a.time() and end_time <= e for s, e in self.week.get(a.weekday(), ()))


def specialist_side(zone_name: str, hours_json: str, time_off_json: str) -> Side:
    """A specialist's side from the roster's columns (JSON text, as the seed stores them)."""
    return Side(
        zone(zone_name), parse_week(json.loads(hours_json)), parse_time_off(json.loads(time_off_json))
    )


def member_side(zone_name: str = MEMBER_ZONE, hours: str = MEMBER_HOURS) -> Side:
    span = parse_span(hours)
    return Side(zone(zone_name), {d: [span] for d in range(7)})


@dataclass(frozen=True)
class Proposal:
    start: dt.datetime  # in UTC
    end: dt.datetime
    reason: str | None = None  # for a near-miss: the one rule it breaks


@dataclass
class SlotRule:
    specialist: Side
    member: Side
    calendars: CalendarSet
    now: dt.datetime
    length: dt.timedelta = dt.timedelta(minutes=30)
    notice_working_days: int = 1
    booked: Sequence[dt.datetime] = ()  # the starts of the specialist's other consults
    horizon: int = HORIZON_WORKING_DAYS
    _bounds: tuple[dt.datetime, dt.datetime] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("now needs a UTC offset")

    # ---- the window: the notice, then `horizon` working days --------------------------

    def _working_day_after(self, day: dt.date, n: int) -> dt.date:
        while n > 0:
            day += dt.timedelta(days=1)
            if self.calendars.is_working_day(day):
                n -= 1
        return day

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """The earliest start (now, moved `notice` working days on the case's calendars, same
        clock time in the member's zone) and the end of the `horizon`-th working day after it."""
        if self._bounds is None:
            local = self.now.astimezone(self.member.zone)
            first_day = self._working_day_after(local.date(), self.notice_working_days)
            earliest = dt.datetime.combine(first_day, local.timetz())
            # The window: `horizon` working days, the first one included when it is one.
            counted = self.horizon - 1 if self.calendars.is_working_day(first_day) else self.horizon
            last_day = self._working_day_after(first_day, max(counted, 0))
            latest = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), self.member.zone)
            self._bounds = (earliest.astimezone(dt.UTC), latest.astimezone(dt.UTC))
        return self._bounds

    # ---- the rules -----------------------------------------------------------------------

    def reasons(self, slot: dt.datetime) -> list[str]:
        """The rules `slot` breaks, in the order they are named (empty: it fits); before or after
        the window, only that."""
        if slot.tzinfo is None or slot.utcoffset() is None:
            return [NO_OFFSET]
        earliest, latest = self.bounds()
        try:
            start = slot.astimezone(dt.UTC)
        except OverflowError:  # the first or last representable day, shifted past the calendar
            return [TOO_SOON if slot.year == dt.MINYEAR else TOO_FAR]
        out = [NOT_ON_GRID] if start.second or start.microsecond or start.minute % 30 else []
        # Outside the window nothing else is asked (nor can a far date reach a holiday table).
        if start < earliest:
            return [*out, TOO_SOON]
        if start > latest - self.length:
            return [*out, TOO_FAR]
        end = start + self.length
        if not self.specialist.fits(start, end):
            out.append(SPECIALIST_HOURS)
        if not self.member.fits(start, end):
            out.append(MEMBER_HOURS_REASON)
        if self._holiday(start.astimezone(self.member.zone).date(), "KH"):
            out.append(KH_HOLIDAY)
        if self._holiday(start.astimezone(self.specialist.zone).date(), "US"):
            out.append(US_HOLIDAY)
        if any(b < end and start < b + self.length for b in self.booked):
            out.append(TAKEN)
        return out

    def check(self, slot: dt.datetime) -> str | None:
        """The first rule `slot` breaks, in plain words, or None when it is a proposal."""
        found = self.reasons(slot)
        return found[0] if found else None

    def _holiday(self, day: dt.date, country: str) -> bool:
        return any(code.startswith(country) for code, _ in self.calendars.holiday_names(day))

    def _candidates(self) -> Iterable[dt.datetime]:
        earliest, latest = self.bounds()
        start = earliest.replace(second=0, microsecond=0)
        if start.minute % 30 or start < earliest:
            start += dt.timedelta(minutes=30 - start.minute % 30)
        while start + self.length <= latest:
            yield start
            start += STEP

    def proposals(self) -> list[Proposal]:
        """Every slot that fits, in time order, in UTC."""
        return [Proposal(s, s + self.length) for s in self._candidates() if not self.reasons(s)]

    def near_misses(self, most: int = 5) -> list[Proposal]:
        """The earliest slots that break exactly one rule, each with that rule."""
        out: list[Proposal] = []
        for s in self._candidates():
            found = self.reasons(s)
            if len(found) == 1:
                out.append(Proposal(s, s + self.length, found[0]))
                if len(out) == most:
                    break
        return out
