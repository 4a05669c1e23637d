"""The consult slots as a reader picks one: grouped by day, each time on the reader's own clock.

The member's page and the specialist's both show the case service's proposals (the slot rule's)
as radio buttons (web/portal/templates/_slots.html), one group a day, in the reader's zone and
language: a day's heading names its weekday and date in words ("ថ្ងៃអង្គារ 15 ធ្នូ 2026"), a
time names its zone as the reader calls it at that instant (ICT, CST, CDT). A choice's value is
the slot's start with its UTC offset, which is all the server reads back: a posted slot without
an offset is refused before anything is asked of the case, and one outside the proposals is
refused by the slot rule itself, with its reason.

The proposals (`service.consult_slots`) are worked out only when a page offers them (`offer`):
to book, or to move a booked consult while it is more than the notice away, which is the slot
rule's own notice (`ConsultSlots.earliest`, from the same call), the one the service refuses a
late move or cancel by.
Both pages ask the service the same way (`consult_action`) and word its refusals their own.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from multidict import MultiDictProxy
from pydantic import ValidationError

import service
from models.case import UpdateAck
from models.portal import ConsultForm
from runtime import i18n
from runtime.i18n import Language, gettext, zone_name
from web.backends import Backends
from web.errors import WebError
from web.portal.base import LATE, answered, form_text
from web.portal.pages import weekday_names

# A consult's number as a form carries it (`RescheduleConsult.number` is 1 to 999).
NUMBER = re.compile(r"[0-9]{1,3}")


@dataclass(frozen=True, slots=True)
class Choice:
    value: str  # the start, ISO 8601 with its UTC offset: what the form posts back
    label: str  # "07:00 ICT", on the reader's clock


@dataclass(frozen=True, slots=True)
class Day:
    label: str  # "Tuesday 15 December 2026", in the reader's language
    choices: list[Choice]


def day_label(day: date, language: Language) -> str:
    """The weekday and the date in words, as the page's other dates are written."""
    weekday = weekday_names(language)[(day.weekday() + 1) % 7]  # the list starts on Sunday
    return f"{weekday} {i18n.day(day, language)}"


def days(starts: Iterable[datetime], zone: ZoneInfo, language: Language) -> list[Day]:
    """The starts grouped by the reader's local day, each in time order."""
    grouped: dict[date, list[Choice]] = {}
    for start in sorted(starts):
        local = start.astimezone(zone)
        label = f"{local:%H:%M} {zone_name(zone, start)}"
        grouped.setdefault(local.date(), []).append(Choice(local.isoformat(), label))
    return [Day(day_label(day, language), choices) for day, choices in grouped.items()]


@dataclass(frozen=True, slots=True)
class Offer:
    """The slots a page may offer: to book, or to move the booked consult to."""

    changeable: bool = False  # a booking, or a booked consult more than the notice away
    starts: list[datetime] = field(default_factory=list)  # in time order; empty: none fits


async def offer(backends: Backends, case_id: str, booked_at: datetime | None = None) -> Offer:
    """The proposals to book (`booked_at` None) or to move the consult booked at `booked_at` to
    (itself left out): none once it is inside the notice, or when the case has no slot rule now
    (its report not out, its specialist gone from the roster)."""
    client, engine, settings = await backends.client(), backends.engine, backends.settings
    try:
        proposed = await service.consult_slots(client, engine, settings, case_id)
    except service.CaseConflict:
        return Offer(changeable=booked_at is None)
    if booked_at is not None and booked_at < proposed.earliest:  # inside the notice
        return Offer()
    return Offer(True, [slot.start for slot in proposed.slots if slot.start != booked_at])


def slot_from(form: MultiDictProxy[Any], unchosen: str) -> datetime:
    """The slot a form posted: a start with its UTC offset, else a 422 saying `unchosen`."""
    try:
        slot = ConsultForm.model_validate({"slot": form_text(form, "slot")}).slot
    except ValidationError:
        raise WebError(422, unchosen) from None
    if slot.tzinfo is None or slot.utcoffset() is None:
        # A time without its offset names no instant: the page's choices always carry one.
        raise WebError(422, unchosen)
    return slot


def number_from(form: MultiDictProxy[Any], stale: str) -> int:
    """The consult number a form names, else a 409 saying `stale` (the page is not this one's)."""
    text = form_text(form, "n")
    if not NUMBER.fullmatch(text):
        raise WebError(409, stale)
    return int(text)


@dataclass(frozen=True, slots=True)
class ConsultWords:
    """How a page words the case service's refusals of a consult action."""

    late: str  # the booked consult itself is inside the notice
    slot_refused: str  # a slot the rule refuses, with its `%(reason)s`
    refused: str | None = None  # the case's own refusal; None: its validator's words


async def consult_action(
    call: Awaitable[UpdateAck | None],
    action: str,
    slot: datetime | None,
    words: ConsultWords,
    conflict: Callable[[str], Awaitable[NoReturn]],
) -> None:
    """One consult action through the case service, its refusals worded by the page (`words`).

    The service audits what the slot rule refuses and what the case answers. A slot the rule
    refuses is told with the rule's reason in the page's language. A conflict the service finds
    before asking the case (the case moved on, another consult's number) goes to `conflict`
    with its words, to audit and refuse.
    """
    try:
        with answered(action, words.refused):
            ack = await call
    except service.SlotRefused as exc:
        if slot is None or exc.slot != slot:
            raise WebError(409, words.late) from None
        raise WebError(422, words.slot_refused, reason=gettext(exc.reason)) from None
    except service.CaseConflict as exc:
        await conflict(str(exc))
    if ack is None:
        raise WebError(503, LATE)
