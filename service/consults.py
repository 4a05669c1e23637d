"""A case's telephone consult: the slots that fit, a booking checked and held, the hold let go.

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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from temporalio.client import Client

from calendars import CalendarService, CalendarSet
from calendars import consult_slots as slot_rule
from models.api import ConsultSlot, ConsultSlots
from models.case import BookConsult, CaseStatus, CompleteConsult, Stage, UpdateAck
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
    side = await asyncio.to_thread(consult_holds.specialist_side, engine, specialist_id)
    if side is None:
        raise CaseConflict(f"specialist {specialist_id} is not in the roster")
    booked = await asyncio.to_thread(consult_holds.others_booked, engine, specialist_id, case_id)
    rule = slot_rule.SlotRule(
        specialist=side,
        member=slot_rule.member_side(),
        calendars=_calendars(settings, current.calendars),
        now=datetime.now(UTC),
        length=timedelta(minutes=current.consult_length_minutes),
        notice_working_days=current.consult_notice_working_days,
        booked=booked,
    )
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
        slots=[_slot(p, rule) for p in proposals],
        near_misses=[_slot(p, rule) for p in misses],
    )


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

    async def send() -> UpdateAck | None:
        return await send_update(
            client,
            engine,
            case_id=case_id,
            actor=actor,
            action=action,
            update=SmoCaseWorkflow.book_consult,
            arg=arg,
            wait=wait,
        )

    if not found.status.consult_open:
        return await send()
    reason = found.rule.check(slot)
    if reason is None and not await asyncio.to_thread(
        consult_holds.hold, engine, found.specialist_id, slot, case_id
    ):
        reason = slot_rule.TAKEN
    if reason is not None:
        detail = f"{slot.isoformat()}: {reason}"
        await audit_off_loop(
            engine, actor=actor, action=action, outcome="refused", case_id=case_id, detail=detail
        )
        raise SlotRefused(slot, reason)
    try:
        return await send()
    except BaseException:
        await asyncio.to_thread(consult_holds.release, engine, case_id, slot)
        raise


async def complete_consult(
    client: Client,
    engine: Engine,
    case_id: str,
    actor: str,
    action: str = "consult.complete",
    wait: timedelta = RPC_TIMEOUT,
) -> UpdateAck | None:
    """Mark the booked consult held; its slot is let go."""
    ack = await send_update(
        client,
        engine,
        case_id=case_id,
        actor=actor,
        action=action,
        update=SmoCaseWorkflow.complete_consult,
        arg=CompleteConsult(by=actor),
        wait=wait,
    )
    await release_consults(engine, case_id)
    return ack


async def release_consults(engine: Engine, case_id: str) -> None:
    """Let go of every slot the case holds (its consult held, the case closed or cancelled)."""
    await asyncio.to_thread(consult_holds.release, engine, case_id)
