"""Alembic owns the case DB's schema: from empty (or from the first revision) to head on SQLite
and PostgreSQL, the migrated schema equals the models, the audit trail stays append-only, and
the service refuses a database that is not at head."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel
from typer.testing import CliRunner

from models.db import AuditEvent
from models.settings import Settings
from runtime.db import (
    SchemaNotAtHead,
    alembic_config,
    current_revision,
    head_revision,
    init_db,
    make_engine,
    seed,
    upgrade,
)
from starter.db_cli import db_app
from tests.conftest import pg_create, pg_drop, pg_url_for

SPECIALISTS = yaml.safe_load(Settings().specialists_file.read_text(encoding="utf-8"))

FIRST_REVISION_TABLES = {
    "cases", "specialists", "assignments", "documents", "ledger", "emails", "email_deliveries",
    "policies", "audit_events",
}  # fmt: skip


@pytest.fixture
def empty_url(db_backend: str, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it at all, on the backend this test runs on."""
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"smo_empty_{uuid.uuid4().hex[:12]}"
    pg_create(name)
    try:
        yield pg_url_for(name)
    finally:
        pg_drop(name)


@pytest.fixture
def empty_engine(empty_url: str) -> Iterator[Engine]:
    engine = make_engine(empty_url)
    yield engine
    engine.dispose()


def schema_diff(engine: Engine, metadata: sa.MetaData = SQLModel.metadata) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrading_from_the_first_revision_to_head_gives_exactly_the_models_schema(
    empty_engine: Engine,
) -> None:
    assert upgrade(empty_engine, "0001") == "0001"
    assert tables(empty_engine) == FIRST_REVISION_TABLES

    assert upgrade(empty_engine) == head_revision()
    later = {"sla_rounds", "api_users", "portal_links", "portal_sessions", "specialist_loads"}
    later |= {"intake_confirmations", "rate_counters", "consult_holds", "member_consult_hours"}
    later |= {"case_keys", "case_holds", "case_erasures", "case_views", "opinion_outcomes", "survey_answers"}
    later |= {"follow_up_rounds"}
    assert tables(empty_engine) == FIRST_REVISION_TABLES | later
    assert schema_diff(empty_engine) == []


def test_the_case_keys_migration_marks_every_case_of_its_time_legacy(empty_engine: Engine) -> None:
    """Their documents may be the old shared store's: they stay readable for them (and only them)."""
    upgrade(empty_engine, "0009")
    with empty_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO documents (case_id, doc_id, record_type, size, registered_at)"
                " VALUES (:c, :d, 'lab_result', 1, CURRENT_TIMESTAMP)"
            ),
            [{"c": "OLD-1", "d": "a" * 64}, {"c": "OLD-2", "d": "b" * 64}, {"c": "OLD-2", "d": "c" * 64}],
        )
    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT case_id, wrapped, legacy FROM case_keys ORDER BY case_id")).all()
    assert [tuple(r) for r in rows] == [("OLD-1", None, True), ("OLD-2", None, True)]


def test_the_specialist_loads_migration_counts_the_assignments_already_active(
    empty_engine: Engine,
) -> None:
    upgrade(empty_engine, "0004")
    with empty_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO assignments (case_id, assignment_no, specialist_id, status, assigned_at)"
                " VALUES (:c, :n, :s, :st, CURRENT_TIMESTAMP)"
            ),
            [
                {"c": "K-1", "n": 1, "s": "SP-A", "st": "reassigned"},
                {"c": "K-1", "n": 2, "s": "SP-B", "st": "active"},
                {"c": "K-2", "n": 1, "s": "SP-B", "st": "active"},
                {"c": "K-3", "n": 1, "s": "SP-A", "st": "completed"},
            ],
        )
    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT specialist_id, active FROM specialist_loads")).all()
    assert {sid: n for sid, n in rows} == {"SP-B": 2}


def test_upgrades_started_together_on_a_fresh_database_all_end_at_head(empty_url: str) -> None:
    # Two workers and the web starting on a new database: one migrates, the others wait.
    engines = [make_engine(empty_url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(len(engines)) as pool:
            assert list(pool.map(upgrade, engines)) == [head_revision()] * len(engines)
        assert schema_diff(engines[0]) == []
    finally:
        for engine in engines:
            engine.dispose()


def test_hosts_seeding_a_fresh_database_together_all_start(empty_url: str) -> None:
    # Every web and worker seeds the roster and the policies as it starts: at the same moment on
    # a new database, none may find a row missing, insert it, and collide with another.
    engines = [make_engine(empty_url) for _ in range(4)]
    try:
        upgrade(engines[0])
        settings = Settings()
        with ThreadPoolExecutor(len(engines)) as pool:
            list(pool.map(lambda engine: seed(engine, settings), engines))
        with engines[0].connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM specialists")).scalar_one()
        assert count == len(SPECIALISTS)
    finally:
        for engine in engines:
            engine.dispose()


def test_a_model_change_without_a_migration_is_caught_by_the_schema_comparison(
    empty_engine: Engine,
) -> None:
    upgrade(empty_engine)
    changed = sa.MetaData()
    for table in SQLModel.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["sla_rounds"].append_column(sa.Column("reviewer_note", sa.String(200)))
    diff = schema_diff(empty_engine, changed)
    assert [(d[0], d[3].name) for d in diff if isinstance(d, tuple)] == [("add_column", "reviewer_note")]


def test_the_audit_trail_is_append_only_after_migration(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    with Session(empty_engine) as session:
        session.add(AuditEvent(actor="coordinator", action="case.open", outcome="ok", case_id="C-1"))
        session.commit()
    for statement in ("UPDATE audit_events SET outcome = 'forged'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), empty_engine.begin() as conn:
            conn.execute(sa.text(statement))
    with empty_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT outcome FROM audit_events")).scalars().all() == ["ok"]


def test_downgrading_to_nothing_and_back_up_works(empty_engine: Engine) -> None:
    from alembic import command

    upgrade(empty_engine)
    config = alembic_config(empty_engine)
    with empty_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert tables(empty_engine) == set()
    assert current_revision(empty_engine) is None
    upgrade(empty_engine)
    assert schema_diff(empty_engine) == []


def test_a_database_made_before_migrations_is_adopted_then_upgraded(empty_engine: Engine) -> None:
    # What main's create_all left behind: every table, no alembic_version.
    SQLModel.metadata.create_all(empty_engine)
    assert upgrade(empty_engine) == head_revision()
    assert schema_diff(empty_engine) == []


def test_an_upgrade_that_fails_part_way_leaves_the_database_as_it_was(empty_engine: Engine) -> None:
    # A stray table in the way of revision 0002: the upgrade fails there, and revision 0001's
    # tables, made earlier in the same upgrade, are rolled back with it.
    with empty_engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE sla_rounds (id INTEGER PRIMARY KEY)"))
    with pytest.raises(DBAPIError, match=r"(?i)already exists"):
        upgrade(empty_engine)
    assert set(inspect(empty_engine).get_table_names()) == {"sla_rounds"}
    assert current_revision(empty_engine) is None


def test_the_service_refuses_a_database_behind_head_and_says_what_to_run(
    empty_url: str, empty_engine: Engine, smo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(empty_engine, "0001")
    monkeypatch.setenv("DATABASE_URL", empty_url)
    expected = rf"is at 0001, this code needs revision {head_revision()}: run `smo db upgrade`"
    with pytest.raises(SchemaNotAtHead, match=expected):
        init_db(Settings())
    assert current_revision(empty_engine) == "0001"  # and left it alone


def test_the_worker_does_not_start_on_a_database_behind_head(
    empty_url: str, empty_engine: Engine, settings: Settings
) -> None:
    from worker import Services

    upgrade(empty_engine, "0001")
    settings.database_url = empty_url
    with pytest.raises(SchemaNotAtHead, match="run `smo db upgrade`"):
        Services.from_settings(settings)


def test_the_service_refuses_an_empty_operated_database(
    empty_url: str, empty_engine: Engine, smo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_url)
    with pytest.raises(SchemaNotAtHead, match="no schema version"):
        init_db(Settings())
    assert tables(empty_engine) == set()


def test_the_embedded_sqlite_default_upgrades_itself_on_a_fresh_machine(smo_home: Path) -> None:
    settings = Settings()
    assert not (smo_home / "cases.db").exists()
    engine = init_db(settings)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_smo_db_upgrade_builds_the_schema_on_an_empty_database_then_says_it_is_current(
    empty_url: str, empty_engine: Engine, smo_home: Path
) -> None:
    runner = CliRunner()
    env = {"DATABASE_URL": empty_url}
    first = runner.invoke(db_app, ["upgrade"], env=env)
    assert first.exit_code == 0, first.output
    assert f"empty -> {head_revision()}" in first.output
    assert schema_diff(empty_engine) == []
    again = runner.invoke(db_app, ["upgrade"], env=env)
    assert again.exit_code == 0 and f"already at {head_revision()}" in again.output
    current = runner.invoke(db_app, ["current"], env=env)
    assert current.exit_code == 0 and f"{head_revision()} (code needs {head_revision()})" in current.output


def test_smo_db_upgrade_to_a_made_up_revision_fails_clearly_and_changes_nothing(
    empty_url: str, empty_engine: Engine, smo_home: Path
) -> None:
    result = CliRunner().invoke(db_app, ["upgrade", "--revision", "0002; DROP TABLE cases"], env={
        "DATABASE_URL": empty_url
    })  # fmt: skip
    assert result.exit_code == 2
    assert result.output.startswith("error: cannot upgrade to '0002; DROP TABLE cases'")
    assert tables(empty_engine) == set()


def test_smo_db_upgrade_hides_the_password_of_an_unreachable_database(smo_home: Path) -> None:
    url = "postgresql://smo:s3cret-pw@127.0.0.1:1/smo"
    result = CliRunner().invoke(db_app, ["upgrade"], env={"DATABASE_URL": url})
    assert result.exit_code == 2
    assert "cannot reach the case DB at postgresql://smo:***@127.0.0.1:1/smo" in result.output
    assert "s3cret-pw" not in result.output


def test_smo_db_current_on_a_database_behind_head_exits_1_naming_both_revisions(
    empty_url: str, empty_engine: Engine, smo_home: Path
) -> None:
    upgrade(empty_engine, "0001")
    result = CliRunner().invoke(db_app, ["current"], env={"DATABASE_URL": empty_url})
    assert result.exit_code == 1
    assert f"0001 (code needs {head_revision()})" in result.output
