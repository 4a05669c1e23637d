"""The consult slots held in the case DB, and what the slot rule needs of the roster and the member.

A booking holds its specialist's slot before the case is asked to book it: the unique key
(specialist_id, start) lets one of two bookings racing for a slot win and the other learn it is
taken. The hold is released when the consult is completed, or when the case refuses the booking.
The member's hours (their portal setting, or the default) and the specialist's make the slot
rule for a case (`slot_rule`), which the case service and the availability activity both use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete
from sqlmodel import Session, select

from calendars import CalendarSet, consult_slots
from models import db as tables


def _utc(value: datetime) -> datetime:
    # SQLite hands a stored instant back without its offset; every instant stored here is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def specialist_side(engine: Engine, specialist_id: str) -> consult_slots.Side | None:
    """The specialist's consult hours, zone and time off, or None for an unknown one."""
    with Session(engine) as session:
        row = session.get(tables.Specialist, specialist_id)
    if row is None:
        return None
    return consult_slots.specialist_side(row.timezone, row.consult_hours, row.time_off)


def others_booked(engine: Engine, specialist_id: str, case_id: str) -> list[datetime]:
    """The starts of the specialist's consults held for other cases."""
    query = select(tables.ConsultHold.start).where(
        tables.ConsultHold.specialist_id == specialist_id, tables.ConsultHold.case_id != case_id
    )
    with Session(engine) as session:
        return [_utc(start) for start in session.exec(query)]


def hold(engine: Engine, specialist_id: str, start: datetime, case_id: str) -> bool:
    """Hold the slot for the case; False when another booking holds it already."""
    row = {
        "specialist_id": specialist_id,
        "start": _utc(start),
        "case_id": case_id,
        "held_at": datetime.now(UTC),
    }
    with engine.begin() as conn:
        return tables.insert_new(conn, tables.ConsultHold, [row], ["specialist_id", "start"]) == 1


def release(engine: Engine, case_id: str, start: datetime | None = None) -> None:
    """Let go of the case's held slots (or only the one starting at `start`)."""
    statement = delete(tables.ConsultHold).where(tables.ConsultHold.case_id == case_id)  # type: ignore[arg-type]
    if start is not None:
        statement = statement.where(tables.ConsultHold.start == _utc(start))  # type: ignore[arg-type]
    with engine.begin() as conn:
        conn.execute(statement)


@dataclass(frozen=True)
class MemberHours:
    """The hours a member takes calls, every day, in their zone."""

    zone: str = consult_slots.MEMBER_ZONE
    hours: str = consult_slots.MEMBER_HOURS


def member_hours(engine: Engine, case_id: str) -> MemberHours:
    """The member's setting, or the default (08:00-21:00 in Asia/Phnom_Penh)."""
    with Session(engine) as session:
        row = session.get(tables.MemberConsultHours, case_id)
    return MemberHours() if row is None else MemberHours(row.timezone, row.hours)


def set_member_hours(engine: Engine, case_id: str, hours: MemberHours) -> None:
    """Keep the member's hours (checked first: an unknown zone or bad span raises ValueError)."""
    consult_slots.member_side(hours.zone, hours.hours)
    with Session(engine) as session:
        row = session.get(tables.MemberConsultHours, case_id) or tables.MemberConsultHours(
            case_id=case_id, timezone=hours.zone, hours=hours.hours
        )
        row.timezone, row.hours, row.changed_at = hours.zone, hours.hours, datetime.now(UTC)
        session.add(row)
        session.commit()


def slot_rule(
    engine: Engine,
    calendars: CalendarSet,
    *,
    case_id: str,
    specialist_id: str,
    length: timedelta,
    notice_working_days: int,
    now: datetime,
) -> consult_slots.SlotRule | None:
    """The slot rule for the case's member and specialist now; None for an unknown specialist."""
    side = specialist_side(engine, specialist_id)
    if side is None:
        return None
    member = member_hours(engine, case_id)
    return consult_slots.SlotRule(
        specialist=side,
        member=consult_slots.member_side(member.zone, member.hours),
        calendars=calendars,
        now=now,
        length=length,
        notice_working_days=notice_working_days,
        booked=others_booked(engine, specialist_id, case_id),
    )
