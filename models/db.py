"""The case database: SQLModel tables written only by activities (and the append-only audit).

SQLite by default, PostgreSQL through DATABASE_URL. No table holds PHI: patients are
known by `life_assured_ref` (a keyed hash) and documents by their sha256.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Table, UniqueConstraint
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def table(model: type[SQLModel]) -> Table:
    """A table model's Core `Table`, for the hot paths that skip the ORM's unit of work."""
    found = model.__table__  # type: ignore[attr-defined]
    assert isinstance(found, Table)
    return found


def values_of(row: SQLModel) -> dict[str, Any]:
    """A row's column values, its defaults filled in by the model; an unset autoincrement id
    is left to the database."""
    values = row.model_dump()
    if values.get("id", 0) is None:
        del values["id"]
    return values


def upsert_insert(conn: Connection) -> Callable[[Table], PgInsert | SqliteInsert]:
    """The connection's dialect's INSERT, the one that takes ON CONFLICT (PostgreSQL, SQLite)."""
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


def insert_new(conn: Connection, model: type[SQLModel], rows: list[dict[str, Any]], keys: list[str]) -> int:
    """Insert the rows whose `keys` are not there yet, as one atomic statement (ON CONFLICT
    DO NOTHING): no window between a look-up and an insert for a concurrent attempt to slip
    through, and no aborted transaction on PostgreSQL when one does. Returns how many were
    inserted: counted from RETURNING, because `rowcount` is no guide on every driver (psycopg
    reports none for a single-row insert that SQLAlchemy gave an implicit RETURNING id)."""
    if not rows:
        return 0
    insert = upsert_insert(conn)
    target = table(model)
    statement = (
        insert(target).on_conflict_do_nothing(index_elements=keys).returning(*(target.c[k] for k in keys))
    )
    return len(conn.execute(statement, rows[0] if len(rows) == 1 else rows).all())


class CaseRow(SQLModel, table=True):
    __tablename__ = "cases"

    case_id: str = Field(primary_key=True, max_length=64)
    program: str = Field(index=True, max_length=40)
    policy_number: str = Field(index=True, max_length=40)
    life_assured_ref: str = Field(index=True, max_length=64)
    condition_key: str = Field(index=True, max_length=8)
    icd10: str = Field(max_length=10)
    stage: str = Field(max_length=32)
    eligible: bool | None = None
    follow_up_of: str | None = Field(default=None, max_length=64)
    opened_at: datetime = Field(default_factory=utcnow)
    closed_at: datetime | None = None


class Specialist(SQLModel, table=True):
    __tablename__ = "specialists"

    specialist_id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=120)
    specialty: str = Field(index=True, max_length=40)
    board: str = Field(max_length=120)
    board_certified: bool = True
    capacity: int = 3
    affiliation: str = Field(max_length=120)
    email: str = Field(max_length=120)
    state: str = Field(max_length=2)
    active: bool = True
    # Where the specialist reads the time: an IANA zone, so DST is the tz database's to apply.
    timezone: str = Field(default="America/Chicago", max_length=64)
    # Consult hours per weekday in that zone ({"mon": ["06:00-08:00", …], …}) and the dates
    # away ([{"from": "2026-12-24", "to": "2026-12-27"}]), as JSON (calendars.consult_slots).
    consult_hours: str = Field(default="{}", max_length=2000)
    time_off: str = Field(default="[]", max_length=2000)


class Assignment(SQLModel, table=True):
    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("case_id", "assignment_no"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True, max_length=64)
    assignment_no: int
    specialist_id: str = Field(index=True, max_length=40)
    status: str = Field(default="active", max_length=16)
    assigned_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None


class ConsultHold(SQLModel, table=True):
    """A specialist's booked consult slot, held while the consult is pending: the unique key
    lets one of two bookings racing for the same slot win (the other is told "taken")."""

    __tablename__ = "consult_holds"
    __table_args__ = (UniqueConstraint("specialist_id", "start"),)

    id: int | None = Field(default=None, primary_key=True)
    specialist_id: str = Field(index=True, max_length=40)
    start: datetime  # UTC
    case_id: str = Field(index=True, max_length=64)
    held_at: datetime = Field(default_factory=utcnow)


class MemberConsultHours(SQLModel, table=True):
    """The hours a member can take a call, in their own zone (the portal's setting); a case
    without a row takes the default, 08:00-21:00 in Asia/Phnom_Penh."""

    __tablename__ = "member_consult_hours"

    case_id: str = Field(primary_key=True, max_length=64)
    timezone: str = Field(max_length=64)
    hours: str = Field(max_length=11)  # HH:MM-HH:MM, every day
    changed_at: datetime = Field(default_factory=utcnow)


class SpecialistLoad(SQLModel, table=True):
    """Each specialist's count of active assignments, changed in the same transaction as the
    assignments themselves (activities/roster.py): choosing a specialist reads one row per
    candidate instead of counting every active case of the specialty, which cost 2.5 ms with
    2,000 open cases and 9.5 ms with 10,000 on SQLite, and grew with every case opened."""

    __tablename__ = "specialist_loads"

    specialist_id: str = Field(primary_key=True, max_length=40)
    active: int = 0


class DocumentRow(SQLModel, table=True):
    __tablename__ = "documents"

    case_id: str = Field(primary_key=True, max_length=64)
    doc_id: str = Field(primary_key=True, max_length=64)
    record_type: str = Field(max_length=32)
    size: int
    registered_at: datetime = Field(default_factory=utcnow)


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "ledger"

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, max_length=128)
    case_id: str = Field(index=True, max_length=64)
    kind: str = Field(max_length=32)
    amount_cents: int
    currency: str = Field(max_length=3)
    created_at: datetime = Field(default_factory=utcnow)


class EmailRow(SQLModel, table=True):
    __tablename__ = "emails"

    notice_id: str = Field(primary_key=True, max_length=160)
    case_id: str = Field(index=True, max_length=64)
    kind: str = Field(max_length=40)
    status: str = Field(max_length=16)
    attempts: int = 0
    message_id: str = Field(max_length=200)
    sent_at: datetime | None = None


class EmailDelivery(SQLModel, table=True):
    """One row per recipient a notice reached: a retry skips the ones already served."""

    __tablename__ = "email_deliveries"

    notice_id: str = Field(primary_key=True, max_length=160)
    role: str = Field(primary_key=True, max_length=16)
    message_id: str = Field(max_length=200)
    sent_at: datetime = Field(default_factory=utcnow)


class Policy(SQLModel, table=True):
    __tablename__ = "policies"

    policy_number: str = Field(primary_key=True, max_length=40)
    program: str = Field(max_length=40)
    status: str = Field(max_length=16)
    in_force_from: date
    in_force_to: date | None = None


class AuditEvent(SQLModel, table=True):
    """Append-only: rows are inserted, never updated or deleted."""

    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    case_id: str | None = Field(default=None, index=True, max_length=64)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64)
    outcome: str = Field(max_length=64)
    detail: str = Field(default="", max_length=500)


class SlaRound(SQLModel, table=True):
    """One review round's SLA facts, the source of the monthly SLA report."""

    __tablename__ = "sla_rounds"
    __table_args__ = (UniqueConstraint("case_id", "assignment_no"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True, max_length=64)
    program: str = Field(index=True, max_length=40)
    assignment_no: int
    specialist_id: str = Field(index=True, max_length=40)
    working_days: int
    calendars: str = Field(max_length=40)  # comma-separated calendar codes
    received_at: datetime
    due_at: datetime | None = None
    ended_at: datetime = Field(index=True)
    outcome: str = Field(max_length=16)
    warned: bool = False
    breached: bool = False
    paused_working_days: int = 0


# The request form's confirmation links and the portal's hit counters belong to the same schema
# (migration 0006); importing them here puts them wherever the case DB's tables are.
from models import intake_tables as _intake  # noqa: E402, F401

# And the case keys, legal holds and erasure stubs (migration 0010).
from models import retention_tables as _retention  # noqa: E402, F401
