"""Shared fixtures: every backend is a real local one (SQLite or PostgreSQL, an SMTP server,
the encrypted store on disk or in SeaweedFS's S3, the Temporal test or dev server).

Every test that touches the case DB (through `services`, `db_url` or `db_engine`) runs on
both SQLite and PostgreSQL: `pytest --db sqlite` or `--db postgresql` picks one. PostgreSQL
is the local server (SMO_TEST_PG_URL, an admin connection that may CREATE DATABASE); each
test gets a throwaway database cloned from a template migrated once per run, and dropped.

The document-store tests (`document_store`) run on the directory and on S3: one SeaweedFS per
run (`seaweed`, tests/seaweed.py), each test under a prefix of its own; `pytest -m s3` runs
the S3 ones only.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import hypothesis
import psycopg
import pytest
import structlog
from sqlalchemy import Engine, make_url
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models.settings import Settings
from runtime.blobs import open_blobs
from runtime.db import make_engine, upgrade
from runtime.documents import DocumentStore
from runtime.outbox import OutboxServer
from runtime.secrets import ensure_dev_secrets
from runtime.temporal import binary, converter_for, ensure_search_attributes
from security.keys import KeyRing
from tests import seaweed as s3
from worker import Services, build_worker

# In CI the property tests draw the same examples every run (hypothesis' documented CI
# practice); on a developer's machine they explore new ones each time.
hypothesis.settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")


DB_BACKENDS = ("sqlite", "postgresql")
PG_ADMIN_URL = os.environ.get("SMO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parents[1]
# What the service ships (with worker.py): the layout and layering tests read these.
PRODUCT_PACKAGES = (
    "activities", "calendars", "models", "reports", "runtime", "security", "service", "starter", "web",
    "workflows",
)  # fmt: skip


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        action="append",
        choices=DB_BACKENDS,
        help="case-DB backend for the tests that touch it (repeatable; default: both)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # A pseudo-fixture: every test whose fixtures reach `db_backend` runs once per backend.
    if "db_backend" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--db") or list(DB_BACKENDS)
        metafunc.parametrize("db_backend", chosen, scope="session")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """A test that configures logging must not leave a handler on a closed capture stream."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers, root.level = handlers, level
    structlog.reset_defaults()


# Ports for the servers a test starts itself come from below the kernel's ephemeral range
# (32768-60999 here), where `bind(0)` picks: a port found free with `bind(0)` and bound a moment
# later could meanwhile be taken by another `bind(0)`, such as the Temporal servers' own ports.
_PORT_LOW, _PORT_HIGH = 20000, 32000
_next_port = itertools.count(random.Random(os.getpid()).randrange(_PORT_LOW, _PORT_HIGH))


def free_port() -> int:
    """A local port that is free now and that this run has not handed out before."""
    for _ in range(_PORT_HIGH - _PORT_LOW):
        port = _PORT_LOW + next(_next_port) % (_PORT_HIGH - _PORT_LOW)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {_PORT_LOW} and {_PORT_HIGH}")


@pytest.fixture
def smo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "smo"
    ensure_dev_secrets(home)
    monkeypatch.setenv("SMO_HOME", str(home))
    monkeypatch.setenv("SMO_SMTP_PORT", str(free_port()))
    monkeypatch.setenv("SMO_WEB_PORT", str(free_port()))
    monkeypatch.setenv("SMO_TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("SMO_UI_PORT", str(free_port()))
    # No Prometheus exporter in tests unless a test asks for one (tests/test_metrics.py).
    monkeypatch.setenv("SMO_METRICS_PORT", "0")
    monkeypatch.setenv("SMO_TASK_QUEUE", f"smo-test-{uuid.uuid4().hex[:8]}")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return home


@pytest.fixture
def settings(smo_home: Path) -> Settings:
    return Settings()


@pytest.fixture
def outbox(settings: Settings) -> Iterator[OutboxServer]:
    with OutboxServer(settings.outbox_dir, settings.smtp_host, settings.smtp_port) as server:
        yield server


def pg_admin() -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit admin connection, or a test failure (never a skip) saying why not."""
    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    pytest.fail(
        f"PostgreSQL is required for the case-DB tests and is unreachable at {PG_ADMIN_URL}: "
        f"{problem} (start it, set SMO_TEST_PG_URL, or run with --db sqlite)",
        pytrace=False,
    )


def pg_url_for(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def pg_create(name: str, template: str | None = None) -> None:
    clause = f' TEMPLATE "{template}"' if template else ""
    with pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"{clause}')


def pg_drop(name: str) -> None:
    with pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A database migrated to head once per run; each test's database is a copy of it."""
    name = f"smo_tmpl_{uuid.uuid4().hex[:12]}"
    pg_create(name)
    try:
        engine = make_engine(pg_url_for(name))
        upgrade(engine)
        # CREATE DATABASE … TEMPLATE needs the template to have no open connection.
        engine.dispose()
        yield name
    finally:
        pg_drop(name)


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A throwaway PostgreSQL database at head for one test."""
    name = f"smo_test_{uuid.uuid4().hex[:12]}"
    pg_create(name, template=pg_template)
    try:
        yield pg_url_for(name)
    finally:
        pg_drop(name)


@pytest.fixture
def db_url(db_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty case DB at head, on the backend this test runs on."""
    if db_backend == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    url = f"sqlite:///{tmp_path / 'case-db' / 'cases.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def services(
    settings: Settings, outbox: OutboxServer, db_backend: str, request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Services]:  # fmt: skip
    if db_backend == "postgresql":
        # The environment too: code under test that reads Settings() itself sees the same DB.
        url = str(request.getfixturevalue("pg_url"))
        monkeypatch.setenv("DATABASE_URL", url)
        settings.database_url = url
    svc = Services.from_settings(settings)
    yield svc
    svc.engine.dispose()


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3.SeaweedFS]:
    """One SeaweedFS (S3) for the run, and its credentials in the usual AWS variables."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", s3.ACCESS_KEY)
        env.setenv("AWS_SECRET_ACCESS_KEY", s3.SECRET_KEY)
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        server = s3.SeaweedFS.start(tmp_path_factory.mktemp("seaweedfs"), [free_port() for _ in range(8)])
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """`SMO_STORAGE_URL` of an empty document store: a directory, or a prefix in SeaweedFS."""
    if request.param == "s3":
        server: s3.SeaweedFS = request.getfixturevalue("seaweed")
        return server.fresh_url()
    return str(tmp_path / "store")


@pytest.fixture
def keys_db(tmp_path: Path) -> Iterator[Engine]:
    """A case DB of its own (SQLite, migrated) for a store's case keys."""
    engine = make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def document_store(store_url: str, keys_db: Engine) -> Iterator[DocumentStore]:
    """An empty store, its case keys in a case DB of its own."""
    store = DocumentStore(open_blobs(store_url), KeyRing.parse(KeyRing.generate_spec("k1")), keys_db)
    store.check()
    yield store
    store.close()


@pytest.fixture
async def ts_env(settings: Settings) -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping test server per test: skipping is global to an environment."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=converter_for(settings),
    )
    await ensure_search_attributes(env.client, env.client.namespace)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def ts_worker(ts_env: WorkflowEnvironment, services: Services) -> AsyncIterator[Worker]:
    worker = build_worker(ts_env.client, services, workflow_failure_exception_types=[Exception])
    async with worker:
        yield worker


@pytest.fixture
def client(ts_env: WorkflowEnvironment) -> Client:
    return ts_env.client


@pytest.fixture(scope="session")
def product_modules() -> list[Path]:
    """Every module the service ships: its packages and worker.py. Not tests/ or bench/, and not
    the Alembic migrations (generated, and frozen once released)."""
    migrations = ROOT / "models" / "migrations"
    found = [ROOT / "worker.py"]
    for package in PRODUCT_PACKAGES:
        found += sorted(p for p in (ROOT / package).rglob("*.py") if not p.is_relative_to(migrations))
    return found


def pytest_report_header() -> list[str]:
    return [
        f"temporal: {binary('temporal')}",
        f"pg: {make_url(PG_ADMIN_URL).render_as_string(hide_password=True)} (--db picks a backend)",
    ]
