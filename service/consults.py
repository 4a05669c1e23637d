"""A case's telephone consult: the slots that fit, a booking checked and held, moved or
cancelled up to the notice limit, its outcome, and the hold let go.

Every edge books through here (the API, the portal): the case's status names its specialist,
the slot rule (`calendars.consult_slots`) weighs a slot against the roster's hours, the case's
calendars and terms and the slots the specialist holds for other cases; the workflow's
validator can do no I/O. A booking holds its slot in the case DB first (a unique key per
specialist and start), so of two bookings racing for one slot the second is told "taken". The
hold is let go when the case refuses the booking, when the consult is completed and when the
case is closed or cancelled.

A refused slot is `SlotRefused`: its `reason` is the rule's plain sentence, in English (marked
for the catalog), for each edge to word its own way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import Engine
from temporalio.client import Client

from calendars import CalendarService, CalendarSet
from calendars import consult_slots as slot_rule
from models.api import ConsultSlot, ConsultSlots
from models.case import CaseStatus, Stage, UpdateAck
from models.consult import BookConsult, CancelConsult, CompleteConsult, ConsultOutcome, RescheduleConsult
from models.settings import Settings
from runtime import consult_holds
from runtime.db import audit_off_loop
from runtime.i18n import zone_name
from service.cases import RPC_TIMEOUT, status
from service.errors import CaseConflict, UserError
from service.updates import send_update
from workflows.smo_case import SmoCaseWorkflow

_CALENDARS: dict[Path | None, CalendarService] = {}


class SlotRefused(UserError):
    """The slot breaks the slot rule or another case holds it (the API answers 422)."""

    def __init__(self, slot: datetime, reason: str) -> None:
        super().__init__(f"the slot {slot.isoformat()} is refused: {reason}")
        self.slot = slot
        self.reason = reason  # the rule's plain sentence, English (N_-marked in calendars)


@dataclass(frozen=True)
class ConsultRule:
    """The case as it stands, its specialist and the slot rule for them, now."""

    status: CaseStatus
    specialist_id: str
    rule: slot_rule.SlotRule


def _calendars(settings: Settings, codes: list[str]) -> CalendarSet:
    path = settings.holiday_overrides
    found = _CALENDARS.get(path) or _CALENDARS.setdefault(path, CalendarService(path))
    return found.calendars(codes)


async def consult_rule(client: Client, engine: Engine, settings: Settings, case_id: str) -> ConsultRule:
    """The slot rule for the case now; `CaseConflict` before its report or without a specialist."""
    current = await status(client, case_id)
    if current.stage not in {Stage.REPORT_DELIVERED, Stage.CONSULT}:
        raise CaseConflict(f"the case is {current.stage}; consults are booked once its report is delivered")
    specialist_id = current.specialist_id
    if specialist_id is None:
        raise CaseConflict("the case has no specialist to consult")
    rule = await asyncio.to_thread(
        consult_holds.slot_rule,
        engine,
        _calendars(settings, current.calendars),
        case_id=case_id,
        specialist_id=specialist_id,
        length=timedelta(minutes=current.consult_length_minutes),
        notice_working_days=current.consult_notice_working_days,
        now=datetime.now(UTC),
    )
    if rule is None:
        raise CaseConflict(f"specialist {specialist_id} is not in the roster")
    return ConsultRule(current, specialist_id, rule)


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


async def consult_slots(client: Client, engine: Engine, settings: Settings, case_id: str) -> ConsultSlots:
    """The slots that fit both sides, in the member's zone; the near-misses when none fit."""
    found = await consult_rule(client, engine, settings, case_id)
    rule = found.rule
    proposals = await asyncio.to_thread(rule.proposals)
    misses = [] if proposals else await asyncio.to_thread(rule.near_misses)
    return ConsultSlots(
        case_id=case_id,
        specialist_id=found.specialist_id,
        earliest=rule.bounds()[0],
        slots=[_slot(p, rule) for p in proposals],
        near_misses=[_slot(p, rule) for p in misses],
    )


async def _refuse(
    engine: Engine, case_id: str, actor: str, action: str, slot: datetime, reason: str
) -> NoReturn:
    detail = f"{slot.isoformat()}: {reason}"
    await audit_off_loop(
        engine, actor=actor, action=action, outcome="refused", case_id=case_id, detail=detail
    )
    raise SlotRefused(slot, reason)


async def _held_then_sent(
    engine: Engine,
    found: ConsultRule,
    slot: datetime,
    actor: str,
    action: str,
    send: Callable[[], Awaitable[UpdateAck | None]],
) -> UpdateAck | None:
    """Check `slot` by the rule, hold it, then ask the case; the hold goes if the case refuses."""
    case_id = found.status.case_id
    reason = found.rule.check(slot)
    if reason is None and not await asyncio.to_thread(
        consult_holds.hold, engine, found.specialist_id, slot, case_id
    ):
        reason = slot_rule.TAKEN
    if reason is not None:
        await _refuse(engine, case_id, actor, action, slot, reason)
    try:
        return await send()
    except BaseException:
        await asyncio.to_thread(consult_holds.release, engine, case_id, slot)
        raise


def _sender(
    client: Client,
    engine: Engine,
    case_id: str,
    actor: str,
    action: str,
    wait: timedelta,
    update: Any,
    arg: Any,
) -> Callable[[], Awaitable[UpdateAck | None]]:
    async def send() -> UpdateAck | None:
        return await send_update(
            client, engine, case_id=case_id, actor=actor, action=action, update=update, arg=arg, wait=wait
        )

    return send


async def book_consult(
    client: Client,
    engine: Engine,
    settings: Settings,
    case_id: str,
    slot: datetime,
    actor: str,
    action: str = "consult.book",
    wait: timedelta = RPC_TIMEOUT,
) -> UpdateAck | None:
    """Book `slot` for the case as `actor`: checked by the slot rule, held, then sent to the case.

    `SlotRefused` (audited as refused) when the slot breaks the rule or another case holds it;
    `CaseConflict` before the report. A case that takes no booking now (one booked already, the
    case moving on) refuses it in its own words and nothing is held. None: accepted, still
    running (the case finishes it; the hold stays).
    """
    found = await consult_rule(client, engine, settings, case_id)
    arg = BookConsult(slot=slot, by=actor)
    send = _sender(client, engine, case_id, actor, action, wait, SmoCaseWorkflow.book_consult, arg)
    if not found.status.consult_open:
        return await send()
    return await _held_then_sent(engine, found, slot, actor, action, send)


async def _booked(
    client: Client, engine: Engine, settings: Settings, case_id: str, number: int, actor: str, action: str
) -> tuple[ConsultRule, datetime]:
    """The rule now and the booked consult `number`, which must still be the notice away."""
    found = await consult_rule(client, engine, settings, case_id)
    current = found.status
    if not current.consult_pending or current.consult_at is None:
        raise CaseConflict("no consult is booked")
    if number != current.consult_number:
        raise CaseConflict(f"consult #{number} is not the booked one (#{current.consult_number})")
    earliest, _ = found.rule.bounds()
    if current.consult_at < earliest:  # the notice both sides were promised
        await _refuse(engine, case_id, actor, action, current.consult_at, slot_rule.TOO_SOON)
    return found, current.consult_at


async def reschedule_consult(
    client: Client,
    engine: Engine,
    settings: Settings,
    case_id: str,
    number: int,
    slot: datetime,
    actor: str,
    action: str = "consult.reschedule",
    wait: timedelta = RPC_TIMEOUT,
) -> UpdateAck | None:
    """Move consult `number` to `slot`: both up to the notice limit, the new slot by the rule and
    held; the old slot is let go once the case has moved it (its invitation, one SEQUENCE up)."""
    found, before = await _booked(client, engine, settings, case_id, number, actor, action)
    if slot == before:  # its own hold would answer "taken"
        raise CaseConflict("the consult is booked at that time already")
    arg = RescheduleConsult(number=number, slot=slot, by=actor)
    send = _sender(client, engine, case_id, actor, action, wait, SmoCaseWorkflow.reschedule_consult, arg)
    ack = await _held_then_sent(engine, found, slot, actor, action, send)
    if ack is not None:
        await asyncio.to_thread(consult_holds.release, engine, case_id, before)
    return ack


async def cancel_consult(
    client: Client,
    engine: Engine,
    settings: Settings,
    case_id: str,
    number: int,
    actor: str,
    action: str = "consult.cancel",
    wait: timedelta = RPC_TIMEOUT,
) -> UpdateAck | None:
    """Cancel consult `number` up to the notice limit; the next booking is free, the slot let go."""
    await _booked(client, engine, settings, case_id, number, actor, action)
    arg = CancelConsult(number=number, by=actor)
    ack = await _sender(client, engine, case_id, actor, action, wait, SmoCaseWorkflow.cancel_consult, arg)()
    if ack is not None:
        await release_consults(engine, case_id)
    return ack


async def complete_consult(
    client: Client,
    engine: Engine,
    case_id: str,
    actor: str,
    action: str = "consult.complete",
    wait: timedelta = RPC_TIMEOUT,
    outcome: ConsultOutcome = ConsultOutcome.DONE,
) -> UpdateAck | None:
    """Say how the booked consult went (held, or who was absent); its slot is let go."""
    arg = CompleteConsult(by=actor, outcome=outcome)
    ack = await _sender(client, engine, case_id, actor, action, wait, SmoCaseWorkflow.complete_consult, arg)()
    await release_consults(engine, case_id)
    return ack


async def release_consults(engine: Engine, case_id: str) -> None:
    """Let go of every slot the case holds (its consult held, the case closed or cancelled)."""
    await asyncio.to_thread(consult_holds.release, engine, case_id)


async def member_hours(engine: Engine, case_id: str) -> consult_holds.MemberHours:
    """The hours the member takes calls, in their zone (their setting or the default)."""
    return await asyncio.to_thread(consult_holds.member_hours, engine, case_id)


async def set_member_hours(
    engine: Engine, case_id: str, hours: consult_holds.MemberHours, actor: str
) -> None:
    """Keep the member's hours; `UserError` for an unknown zone or hours that are not a span."""
    try:
        await asyncio.to_thread(consult_holds.set_member_hours, engine, case_id, hours)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    detail = f"{hours.zone} {hours.hours}"
    await audit_off_loop(
        engine, actor=actor, action="consult.hours", outcome="ok", case_id=case_id, detail=detail
    )
