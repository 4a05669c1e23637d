"""The member's telephone consult, from their case page: book a slot, move it, cancel it, their hours.

Every action goes through the case service as the API's does (`service.book_consult`,
`reschedule_consult`, `cancel_consult`, `set_member_hours`): the slot rule checks the slot and
holds it, the case is asked, and the attempt is audited under `member:<case id>`. A slot is
one of the page's choices, posted with its UTC offset (web.portal.slot_picker); one the rule
refuses is told with the rule's reason in the member's language. A move or a cancel names the
consult's number, so a stale page never changes another consult; inside the notice the service
refuses both, and the member is told to call the desk. Nothing of a finished case changes.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, NoReturn

from aiohttp import web
from multidict import MultiDictProxy

import service
from models.case import CaseStatus, Stage, UpdateAck
from runtime.consult_holds import MemberHours
from runtime.i18n import N_
from web.errors import WebError
from web.portal.base import form_text
from web.portal.consult_view import ENDS, STARTS, known_zone
from web.portal.member_visit import Visit, form_of
from web.portal.slot_picker import ConsultWords, consult_action, number_from, slot_from

# What the member is told when the case refuses what they tried, one sentence per reason.
NOT_YET = N_("Booking a consultation opens once your report is ready.")
BOOKED = N_("Your consultation is booked already. You can book another after it.")
NOT_NOW = N_("A consultation cannot be booked now. Please try again later or contact us.")
FINISHED = N_("Your case is finished. Its consultation can no longer be booked or changed.")
STALE = N_("Your consultation has changed since this page was opened. Please reload the page.")
UNCHOSEN = N_("Please choose one of the times on the page.")
PAST_SLOT = N_("Please choose a day and time that are still to come.")
# A slot the slot rule refuses (`service.SlotRefused`): its reason, in the member's words.
SLOT_REFUSED = N_("This time cannot be booked: %(reason)s. Please choose another day or time.")
TOO_LATE = N_(
    "Your consultation is too soon to be changed here. To move or cancel it, please contact our desk."
)
BAD_ZONE = N_("Please choose your time zone from the list, or write one such as Asia/Phnom Penh.")
BAD_HOURS = N_(
    "Please choose the hours you can take a call: on the hour or half hour, the first before the last."
)


def _booking_refused(status: CaseStatus) -> str:
    """Why the case takes no booking now, in the member's words."""
    if status.stage.terminal:
        return FINISHED
    if status.consult_pending:
        return BOOKED
    if status.stage not in (Stage.REPORT_DELIVERED, Stage.CONSULT):
        return NOT_YET
    return NOT_NOW


def _move_from(form: MultiDictProxy[Any]) -> tuple[int, datetime]:
    return number_from(form, STALE), slot_from(form, UNCHOSEN)


def _hours_from(form: MultiDictProxy[Any]) -> MemberHours:
    """The zone (typed, else chosen) and the span; a 422 in the member's words otherwise."""
    # A zone typed as a place is written ("Asia/Ho Chi Minh") is the tz database's key.
    zone = "_".join(form_text(form, "zone_other").split()) or form_text(form, "zone")
    if not known_zone(zone):
        raise WebError(422, BAD_ZONE)
    start, end = form_text(form, "hours_from"), form_text(form, "hours_to")
    # Both on the page's half-hour grid, the first before the last: "23:00"-"07:00" spans no day.
    if start not in STARTS or end not in ENDS or ENDS.index(end) < STARTS.index(start):
        raise WebError(422, BAD_HOURS)
    return MemberHours(zone, f"{start}-{end}")


async def _ask(
    visit: Visit, action: str, refused: str, call: Awaitable[UpdateAck | None], slot: datetime | None
) -> None:
    """One consult action through the case service; its refusals in the member's words (a
    conflict the service finds first is audited here, as the case's own refusal would be)."""

    def conflict(detail: str) -> Awaitable[NoReturn]:
        return visit.refuse(action, refused, detail)

    await consult_action(call, action, slot, ConsultWords(TOO_LATE, SLOT_REFUSED, refused), conflict)


# The pages of this module, each declared on its handler.
routes = web.RouteTableDef()


@routes.post("/cases/{case_id}/consult")
async def book_consult(request: web.Request) -> web.StreamResponse:
    visit, status, _, slot = await form_of(request, lambda form: slot_from(form, UNCHOSEN))
    refused = _booking_refused(status)
    if not status.consult_open or status.stage.terminal:
        await visit.refuse("consult.book", refused, f"the case is {status.stage.value}")
    if slot <= datetime.now(UTC):
        raise WebError(422, PAST_SLOT)
    backends = visit.portal.backends
    client, actor = await backends.client(), visit.who.actor
    call = service.book_consult(client, backends.engine, backends.settings, visit.case_id, slot, actor)
    await _ask(visit, "consult.book", refused, call, slot)
    raise visit.back("consult")


@routes.post("/cases/{case_id}/consult/move")
async def move_consult(request: web.Request) -> web.StreamResponse:
    visit, status, _, (number, slot) = await form_of(request, _move_from)
    action = "consult.reschedule"
    if status.stage.terminal:
        await visit.refuse(action, FINISHED, f"the case is {status.stage.value}")
    if slot <= datetime.now(UTC):
        raise WebError(422, PAST_SLOT)
    backends = visit.portal.backends
    client, actor = await backends.client(), visit.who.actor
    call = service.reschedule_consult(
        client, backends.engine, backends.settings, visit.case_id, number, slot, actor, action
    )
    await _ask(visit, action, STALE, call, slot)
    raise visit.back("moved")


@routes.post("/cases/{case_id}/consult/cancel")
async def cancel_consult(request: web.Request) -> web.StreamResponse:
    visit, status, _, number = await form_of(request, lambda form: number_from(form, STALE))
    action = "consult.cancel"
    if status.stage.terminal:
        await visit.refuse(action, FINISHED, f"the case is {status.stage.value}")
    backends = visit.portal.backends
    client, actor = await backends.client(), visit.who.actor
    call = service.cancel_consult(client, backends.engine, backends.settings, visit.case_id, number, actor)
    await _ask(visit, action, STALE, call, None)
    raise visit.back("cancelled")


@routes.post("/cases/{case_id}/consult/hours")
async def set_hours(request: web.Request) -> web.StreamResponse:
    """The hours the member takes calls, in their zone: the slots offered follow them."""
    visit, status, _, hours = await form_of(request, _hours_from)
    if status.stage.terminal:
        await visit.refuse("consult.hours", FINISHED, f"the case is {status.stage.value}")
    try:
        await service.set_member_hours(visit.portal.backends.engine, visit.case_id, hours, visit.who.actor)
    except service.UserError:  # the slot rule's own check of the zone and the span
        raise WebError(422, BAD_HOURS) from None
    raise visit.back("hours")
