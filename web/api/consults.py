"""The API's handlers after the report: the telephone consult and a third opinion (both may be billed).

A consult's slot is proposed and checked here, at the edge, by the slot rule
(`calendars.consult_slots`) over the roster's hours, the case's calendars and terms and the
slots the specialist holds for other cases; the workflow's validator can do no I/O. A booking
holds its slot in the case DB first (a unique key per specialist and start), so of two bookings
racing for one slot the second is told "taken".
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import service
from calendars import CalendarService, CalendarSet
from calendars import consult_slots as slot_rule
from models.api import ActionResult, BookConsultBody, ConsultSlot, ConsultSlots
from models.case import BookConsult, CaseStatus, CompleteConsult, RequestThirdOpinion, Stage
from runtime import consult_holds
from runtime.i18n import zone_name
from web.api.call import Call, update
from web.errors import WebError
from workflows.smo_case import SmoCaseWorkflow

_CALENDARS: dict[Path | None, CalendarService] = {}


def _calendars(call: Call, codes: list[str]) -> CalendarSet:
    path = call.backends.settings.holiday_overrides
    found = _CALENDARS.get(path) or _CALENDARS.setdefault(path, CalendarService(path))
    return found.calendars(codes)


async def _rule(call: Call) -> tuple[CaseStatus, str, slot_rule.SlotRule]:
    """The case's status, its specialist and the slot rule for them, now (409 before the report)."""
    status = await service.status(await call.backends.client(), call.case_id)
    if status.stage not in {Stage.REPORT_DELIVERED, Stage.CONSULT}:
        raise WebError(409, f"the case is {status.stage}; consults are booked once its report is delivered")
    specialist_id = status.specialist_id
    if specialist_id is None:
        raise WebError(409, "the case has no specialist to consult")
    engine = call.backends.engine
    side = await asyncio.to_thread(consult_holds.specialist_side, engine, specialist_id)
    if side is None:
        raise WebError(409, f"specialist {specialist_id} is not in the roster")
    booked = await asyncio.to_thread(consult_holds.others_booked, engine, specialist_id, call.case_id)
    rule = slot_rule.SlotRule(
        specialist=side,
        member=slot_rule.member_side(),
        calendars=_calendars(call, status.calendars),
        now=datetime.now(UTC),
        length=timedelta(minutes=status.consult_length_minutes),
        notice_working_days=status.consult_notice_working_days,
        booked=booked,
    )
    return status, specialist_id, rule


def _local(at: datetime, side: slot_rule.Side) -> str:
    """ "Tue 15 Dec 2026 07:00 ICT": the instant on that side's clock, named as they name it."""
    return f"{at.astimezone(side.zone):%a %d %b %Y %H:%M} {zone_name(side.zone, at)}"


def _slot(p: slot_rule.Proposal, rule: slot_rule.SlotRule) -> ConsultSlot:
    member = rule.member.zone
    return ConsultSlot(
        start=p.start.astimezone(member),
        end=p.end.astimezone(member),
        specialist_local=_local(p.start, rule.specialist),
        member_local=_local(p.start, rule.member),
        reason=p.reason,
    )


async def consult_slots(call: Call) -> ConsultSlots:
    _, specialist_id, rule = await _rule(call)
    proposals = await asyncio.to_thread(rule.proposals)
    misses = [] if proposals else await asyncio.to_thread(rule.near_misses)
    return ConsultSlots(
        case_id=call.case_id,
        specialist_id=specialist_id,
        slots=[_slot(p, rule) for p in proposals],
        near_misses=[_slot(p, rule) for p in misses],
    )


async def book_consult(call: Call) -> ActionResult:
    b: BookConsultBody = call.body
    call.check_running()
    status, specialist_id, rule = await _rule(call)
    arg = BookConsult(slot=b.slot, by=call.who.name)
    if not status.consult_open:  # the case refuses it in its own words (409), nothing is held
        return await update(call, SmoCaseWorkflow.book_consult, arg, "consult.book")
    reason = rule.check(b.slot)
    engine = call.backends.engine
    if reason is None and not await asyncio.to_thread(
        consult_holds.hold, engine, specialist_id, b.slot, call.case_id
    ):
        reason = slot_rule.TAKEN
    if reason is not None:
        await call.audit("consult.book", "refused", f"{b.slot.isoformat()}: {reason}")
        raise WebError(422, f"the slot {b.slot.isoformat()} is refused: {reason}")
    try:
        return await update(call, SmoCaseWorkflow.book_consult, arg, "consult.book")
    except BaseException:
        await asyncio.to_thread(consult_holds.release, engine, call.case_id, b.slot)
        raise


async def complete_consult(call: Call) -> ActionResult:
    arg = CompleteConsult(by=call.who.name)
    result = await update(call, SmoCaseWorkflow.complete_consult, arg, "consult.complete")
    await asyncio.to_thread(consult_holds.release, call.backends.engine, call.case_id)
    return result


async def third_opinion(call: Call) -> ActionResult:
    arg = RequestThirdOpinion(by=call.who.name)
    return await update(call, SmoCaseWorkflow.request_third_opinion, arg, "case.third_opinion")
