"""The consult slots held in the case DB, and what the slot rule needs of the roster.

A booking holds its specialist's slot before the case is asked to book it: the unique key
(specialist_id, start) lets one of two bookings racing for a slot win and the other learn it is
taken. The hold is released when the consult is completed, or when the case refuses the booking.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, delete
from sqlmodel import Session, select

from calendars import consult_slots
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
