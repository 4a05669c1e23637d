"""Case-database engine, schema creation and seeding of the roster and demo policies."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, event
from sqlmodel import Session, SQLModel, create_engine, select

from models import db as tables
from models.settings import Settings


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
    """Upsert the specialists roster and the policies from their data files (idempotent)."""
    specialists = _load_yaml(settings.specialists_file) or []
    policies = _load_yaml(settings.policies_file) or []
    with Session(engine) as session:
        for raw in specialists:
            row = tables.Specialist.model_validate(raw)
            existing = session.get(tables.Specialist, row.specialist_id)
            if existing is None:
                session.add(row)
            else:
                for key, value in row.model_dump().items():
                    setattr(existing, key, value)
        for raw in policies:
            raw = dict(raw)
            for key in ("in_force_from", "in_force_to"):
                if isinstance(raw.get(key), str):
                    raw[key] = date.fromisoformat(raw[key])
            prow = tables.Policy.model_validate(raw)
            pexisting = session.get(tables.Policy, prow.policy_number)
            if pexisting is None:
                session.add(prow)
            else:
                for key, value in prow.model_dump().items():
                    setattr(pexisting, key, value)
        session.commit()


_APPEND_ONLY = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS audit_events_no_update BEFORE UPDATE ON audit_events"
        " BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS audit_events_no_delete BEFORE DELETE ON audit_events"
        " BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$"
        " BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$ LANGUAGE plpgsql",
        "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events",
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events"
        " FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    ],
}


def init_db(settings: Settings) -> Engine:
    engine = make_engine(settings.db_url)
    SQLModel.metadata.create_all(engine)
    # The audit trail is append-only in the database itself, not only by convention.
    with engine.begin() as conn:
        for statement in _APPEND_ONLY.get(engine.dialect.name, []):
            conn.exec_driver_sql(statement)
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
    with Session(engine) as session:
        session.add(
            tables.AuditEvent(
                actor=actor, action=action, outcome=outcome, case_id=case_id, detail=detail[:500]
            )
        )
        session.commit()


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
