"""Case-database engine, its schema (Alembic migrations) and seeding of the roster and policies.

Alembic owns the schema: `upgrade` brings a database to head, and the service refuses to start
on a database that is not at head (`SchemaNotAtHead`), except on the embedded development
default (SQLite in SMO_HOME with no DATABASE_URL), which upgrades itself so that `smo dev` and
`make demo` work on a fresh machine.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
import yaml
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, event, insert, inspect
from sqlmodel import Session, SQLModel, create_engine, select

from calendars import consult_slots
from models import case_view_table as _views  # noqa: F401  (the case read model)
from models import db as tables
from models import follow_up_table as _follow_ups  # noqa: F401  (each answered follow-up's SLA facts)
from models import opinion_table as _opinions  # noqa: F401  (what each opinion changed)
from models import portal_tables as _portal  # noqa: F401  (the portal tables belong to it too)
from models import retention_tables as _retention  # noqa: F401  (and the case keys, holds, erasures)
from models import survey_table as _surveys  # noqa: F401  (what the members answered in the survey)
from models import users as _users  # noqa: F401  (api_users belongs to the same schema)
from models.settings import Settings

log = structlog.get_logger(__name__)

T = TypeVar("T")

MIGRATIONS = Path(__file__).resolve().parents[1] / "models" / "migrations"


def make_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        # WAL lets the CLI read while the worker writes; busy_timeout rides out short locks.
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ValueError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc


def seed(engine: Engine, settings: Settings) -> None:
    """Upsert the specialists roster and the policies from their data files (idempotent, and
    safe when several hosts start together on a fresh database)."""
    specialists = _load_yaml(settings.specialists_file) or []
    policies = _load_yaml(settings.policies_file) or []
    roster = []
    for raw in specialists:
        specialist = tables.Specialist.model_validate(_availability(raw))
        _check_zone(specialist)
        roster.append(specialist)
    cover = []
    for raw in policies:
        raw = dict(raw)
        for key in ("in_force_from", "in_force_to"):
            if isinstance(raw.get(key), str):
                raw[key] = date.fromisoformat(raw[key])
        cover.append(tables.Policy.model_validate(raw))
    with engine.begin() as conn:
        _upsert(conn, tables.Specialist, roster)
        _upsert(conn, tables.Policy, cover)


def _check_zone(specialist: tables.Specialist) -> None:
    # A table model does not validate: a misspelt zone would show every date an hour or a day off.
    try:
        ZoneInfo(specialist.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"specialist {specialist.specialist_id}: unknown time zone") from None


def _availability(raw: Any) -> Any:
    """The roster's consult hours and time off checked and stored as JSON text; a bad entry
    fails at start-up naming the specialist."""
    if not isinstance(raw, dict):
        return raw
    raw = dict(raw)
    who = raw.get("specialist_id", "?")
    try:
        week = consult_slots.parse_week(raw.get("consult_hours"))
        away = consult_slots.parse_time_off(raw.get("time_off"))
    except ValueError as exc:
        raise ValueError(f"specialist {who}: {exc}") from None
    raw["consult_hours"] = json.dumps(
        {
            consult_slots.WEEKDAYS[d]: [consult_slots.format_span(s) for s in spans]
            for d, spans in week.items()
        }
    )
    raw["time_off"] = json.dumps([{"from": a.isoformat(), "to": b.isoformat()} for a, b in away])
    return raw


def _upsert(conn: Connection, model: type[SQLModel], rows: Sequence[SQLModel]) -> None:
    """Insert the seed rows, or bring the stored ones with their primary keys up to date, as one
    statement (ON CONFLICT DO UPDATE): no window between a look-up and an insert in which a
    second host starting at the same moment inserts the same row."""
    if not rows:
        return
    target = tables.table(model)
    keys = [column.name for column in target.primary_key.columns]
    values = [tables.values_of(row) for row in rows]
    insert = tables.upsert_insert(conn)(target)
    changes = {name: insert.excluded[name] for name in values[0] if name not in keys}
    conn.execute(insert.on_conflict_do_update(index_elements=keys, set_=changes), values)


class SchemaNotAtHead(RuntimeError):
    """The case DB's schema is not the one this code expects."""


def alembic_config(engine: Engine) -> Config:
    """The Alembic configuration, built in code: no alembic.ini to keep in step."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # A URL with a password must not end up in Alembic's own messages.
    shown = engine.url.render_as_string(hide_password=True)
    config.set_main_option("sqlalchemy.url", shown.replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None, "the migrations directory has no revision"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# A database made by SQLModel's create_all before Alembic owned the schema: its tables exist
# but it has no version. Revision 0002 added sla_rounds, 0003 api_users; the rest is 0001.
def _legacy_revision(conn: Connection) -> str | None:
    tables_present = set(inspect(conn).get_table_names())
    if "alembic_version" in tables_present or "cases" not in tables_present:
        return None
    if "sla_rounds" not in tables_present:
        return "0001"
    if "follow_up_rounds" in tables_present:
        return "0013"  # each answered follow-up's SLA facts
    if "opinion_outcomes" in tables_present:
        return "0012"  # what each opinion changed
    if "case_views" in tables_present:
        return "0011"  # the case read model
    if "case_keys" in tables_present:
        return "0010"  # per-case document keys, holds and erasures
    if "member_consult_hours" in tables_present:
        return "0009"  # the members' consult hours
    if "consult_holds" in tables_present:
        return "0008"  # the consult hours, time off and held slots
    if "timezone" in {c["name"] for c in inspect(conn).get_columns("specialists")}:
        return "0007"  # the specialists' time zones
    if "rate_counters" in tables_present:  # 0006: confirmation links, the portal's counters
        return "0006"
    if "specialist_loads" in tables_present:  # 0005: active assignments per specialist
        return "0005"
    if "portal_links" in tables_present:  # 0004: the portal's links and sessions
        return "0004"
    return "0003" if "api_users" in tables_present else "0002"


# Any constant will do: it names "the case DB's migration" among PostgreSQL advisory locks.
_PG_MIGRATION_LOCK = 0x5A0_DB


def _migration_engine(engine: Engine) -> Engine:
    """An engine whose transactions make a whole upgrade atomic and one at a time.

    Two processes may start on a fresh database together (two workers, the worker and the
    web). pysqlite commits each DDL statement on its own unless SQLAlchemy issues BEGIN, so
    on SQLite the upgrade runs in a BEGIN EXCLUSIVE transaction (the second process waits,
    then finds the schema at head); PostgreSQL takes a transaction-scoped advisory lock.
    """
    if engine.dialect.name != "sqlite":
        return engine
    migrator = create_engine(
        engine.url, connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None}
    )

    @event.listens_for(migrator, "begin")
    def _exclusive(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN EXCLUSIVE")

    return migrator


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Migrate the case DB to `revision` (default head); returns the revision it is at."""
    config = alembic_config(engine)
    migrator = _migration_engine(engine)
    try:
        with migrator.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
            config.attributes["connection"] = conn
            legacy = _legacy_revision(conn)
            if legacy is not None:
                log.info("case DB predates migrations: adopting it", revision=legacy)
                command.stamp(config, legacy)
            command.upgrade(config, revision)
    finally:
        if migrator is not engine:
            migrator.dispose()
    current = current_revision(engine)
    assert current is not None
    return current


def check_schema(engine: Engine) -> None:
    """Refuse to run on a schema this code was not written for."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        found = "no schema version (an empty or unmigrated database)" if current is None else current
        raise SchemaNotAtHead(
            f"the case DB at {engine.url.render_as_string(hide_password=True)} is at {found}, "
            f"this code needs revision {head}: run `smo db upgrade`"
        )


def init_db(settings: Settings, *, auto_upgrade: bool | None = None) -> Engine:
    """The case DB engine, its schema checked (or upgraded) and the roster seeded.

    `auto_upgrade=None` upgrades only the embedded development default (no DATABASE_URL);
    an operated database is upgraded by `smo db upgrade`, deliberately, before a release.
    """
    engine = make_engine(settings.db_url)
    if auto_upgrade is None:
        auto_upgrade = not settings.database_url
    if auto_upgrade:
        upgrade(engine)
    else:
        check_schema(engine)
    seed(engine, settings)
    return engine


def audit(
    engine: Engine,
    *,
    actor: str,
    action: str,
    outcome: str,
    case_id: str | None = None,
    detail: str = "",
) -> None:
    row = tables.AuditEvent(actor=actor, action=action, outcome=outcome, case_id=case_id, detail=detail[:500])
    with engine.begin() as conn:
        conn.execute(insert(tables.table(tables.AuditEvent)), tables.values_of(row))


async def quick_read(engine: Engine, read: Callable[..., T], *args: Any) -> T:
    """A short read of the case DB from a coroutine (a row by its key, a token, a page of the list).

    On SQLite it runs inline: in WAL mode a reader never waits for a writer, and a read from
    the page cache costs less than handing it to a thread and back (the reads of every API
    call and page, docs/performance.md). On a database over the network it runs on a thread,
    so the event loop keeps serving while it waits.
    """
    if engine.dialect.name == "sqlite":
        return read(*args)
    return await asyncio.to_thread(read, *args)


async def audit_off_loop(
    engine: Engine, *, actor: str, action: str, outcome: str, case_id: str | None = None, detail: str = ""
) -> None:
    """`audit` from a coroutine: the insert runs on a thread, so the event loop keeps serving."""
    row = partial(audit, engine, actor=actor, action=action, outcome=outcome, case_id=case_id, detail=detail)
    await asyncio.to_thread(row)


def audit_trail(
    engine: Engine, case_id: str | None = None, *, action: str | None = None, limit: int = 1000
) -> list[tables.AuditEvent]:
    query = select(tables.AuditEvent)
    if case_id is not None:
        query = query.where(tables.AuditEvent.case_id == case_id)
    if action is not None:
        query = query.where(tables.AuditEvent.action == action)
    with Session(engine) as session:
        rows = session.exec(query.order_by(tables.AuditEvent.id.desc()).limit(limit))  # type: ignore[union-attr]
        return list(reversed(list(rows)))
