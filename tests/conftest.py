"""Shared fixtures: every backend is a real local one (SQLite or PostgreSQL, an SMTP server,
the encrypted store on disk, the Temporal test or dev server)."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import hypothesis
import pytest
import structlog
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models.settings import Settings
from runtime.outbox import OutboxServer
from runtime.secrets import ensure_dev_secrets
from runtime.temporal import binary, converter_for, ensure_search_attributes
from worker import Services, build_worker

# In CI the property tests draw the same examples every run (hypothesis' documented CI
# practice); on a developer's machine they explore new ones each time.
hypothesis.settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """A test that configures logging must not leave a handler on a closed capture stream."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers, root.level = handlers, level
    structlog.reset_defaults()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "smo"
    ensure_dev_secrets(home)
    monkeypatch.setenv("SMO_HOME", str(home))
    monkeypatch.setenv("SMO_SMTP_PORT", str(free_port()))
    monkeypatch.setenv("SMO_WEB_PORT", str(free_port()))
    monkeypatch.setenv("SMO_TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("SMO_UI_PORT", str(free_port()))
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


@pytest.fixture
def services(settings: Settings, outbox: OutboxServer) -> Iterator[Services]:
    svc = Services.from_settings(settings)
    yield svc
    svc.engine.dispose()


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


def pytest_report_header() -> list[str]:
    return [
        f"temporal: {binary('temporal')}",
        f"pg: {os.environ.get('SMO_PG_URL', 'postgresql://postgres@127.0.0.1:5432/test')}",
    ]
