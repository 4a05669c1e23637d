"""What the member's page shows of their telephone consult: the booked time, the slots, their hours.

All of it in the member's own zone (their hours setting's; Asia/Phnom_Penh until they choose)
and language. The slots are the case service's proposals (`service.consult_slots`: the slot
rule's, for the next 10 working days) and are worked out only when the page offers them
(web.portal.slot_picker.offer): while the case takes a booking, or while the booked consult is
more than the notice away and may be moved; inside the notice the page gives the desk's
contact instead.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

import service
from models.api import ZONE_SET
from models.case import CaseStatus
from runtime import i18n
from runtime.consult_holds import MemberHours
from runtime.i18n import N_, zone_name, zone_of
from web.backends import Backends
from web.portal.slot_picker import Day, days, offer

# What the page says once a consult action is done (`?done=`), by action.
CONSULT_DONE = {
    "consult": N_("Your telephone consultation is booked. We have emailed you the time."),
    "moved": N_("Your telephone consultation is moved. We have emailed you the new time."),
    "cancelled": N_("Your telephone consultation is cancelled. You can book another time."),
    "hours": N_("Your hours are saved. The times you can choose follow them."),
}

# The zones offered first in the hours form: Cambodia's, then its region's and the
# places members travel to or live; any other IANA zone may be typed.
COMMON_ZONES = (
    "Asia/Phnom_Penh",
    "Asia/Bangkok",
    "Asia/Ho_Chi_Minh",
    "Asia/Vientiane",
    "Asia/Singapore",
    "Asia/Kuala_Lumpur",
    "Asia/Jakarta",
    "Asia/Manila",
    "Asia/Hong_Kong",
    "Asia/Shanghai",
    "Asia/Seoul",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Asia/Dubai",
    "Australia/Sydney",
    "Europe/London",
    "Europe/Paris",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
)
# The hours form's times, on the half hour: a span starts from 00:00 and ends by 24:00.
STARTS = tuple(f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 30))
ENDS = (*STARTS[1:], "24:00")
LONGEST_ZONE = 64  # the column's width (models.db.MemberConsultHours.timezone)


@functools.cache
def known_zone(name: str) -> bool:
    """An IANA zone the service knows, as the API checks it (never a path, never one longer than
    the column)."""
    return len(name) <= LONGEST_ZONE and name in ZONE_SET


@dataclass(frozen=True, slots=True)
class ZoneChoice:
    key: str
    label: str  # "Asia/Phnom Penh (ICT)": as a place is written, not as the tz database keys it


@dataclass(frozen=True, slots=True)
class MemberConsult:
    """The consult part of the member's page."""

    hours: MemberHours
    zone: ZoneInfo
    zones: list[ZoneChoice]  # the hours form's choice of zone
    at: datetime | None = None  # the booked consult's start (None: none, or booked before times were kept)
    number: int = 0
    changeable: bool = False  # more than the notice away: it may still be moved or cancelled online
    days: list[Day] = field(default_factory=list)  # the slots to book or to move to; empty: none fits

    @property
    def start(self) -> str:
        return self.hours.hours.split("-")[0]

    @property
    def end(self) -> str:
        return self.hours.hours.split("-")[1]


def zone_choices(current: str, now: datetime) -> list[ZoneChoice]:
    """The hours form's zones, the member's own first when it is not a common one."""
    keys = list(COMMON_ZONES) if current in COMMON_ZONES else [current, *COMMON_ZONES]
    return [ZoneChoice(key, f"{key.replace('_', ' ')} ({zone_name(zone_of(key), now)})") for key in keys]


async def member_consult(backends: Backends, status: CaseStatus, now: datetime) -> MemberConsult | None:
    """The consult part, when the page has one: a consult booked, or the case taking a booking."""
    # A case that has ended holds no consult to keep, even one booked before it was cancelled.
    if status.stage.terminal or not (status.consult_pending or status.consult_open):
        return None
    hours = await service.member_hours(backends.engine, status.case_id)
    zone, zones = zone_of(hours.zone), zone_choices(hours.zone, now)
    at = status.consult_at if status.consult_pending else None
    part = MemberConsult(hours, zone, zones, at, status.consult_number)
    if not (status.consult_open or at is not None):
        return part  # booked before the case kept its time: nothing to move it by here
    found = await offer(backends, status.case_id, at)
    picker = days(found.starts, zone, i18n.current())
    return replace(part, changeable=at is not None and found.changeable, days=picker)
