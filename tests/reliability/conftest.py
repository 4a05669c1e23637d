"""Fixtures for the fault-injection suite: the real dev server and, per test, a worker process
to kill with its own case DB, SMTP outbox, task queue and case ids.

The dev server is shared by the session; the test that restarts a server starts its own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from models.settings import Settings
from runtime.devserver import DevServer
from tests.reliability.harness import Live, free_port, live_service, run_in_thread


@pytest.fixture(scope="session")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """`temporal server start-dev` (headless, SQLite file) for the whole session."""
    server = DevServer(tmp_path_factory.mktemp("temporal") / "temporal.db", port=free_port(), ui=False)
    run_in_thread(server.start)
    try:
        yield server
    finally:
        run_in_thread(server.stop)


@pytest.fixture
async def live(
    smo_home: Path, dev_server: DevServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[Live]:
    """A worker process (behind a proxy it can be partitioned by) serving this test's queue."""
    monkeypatch.setenv("SMO_TEMPORAL_ADDRESS", dev_server.address)
    monkeypatch.setenv("SMO_TASK_QUEUE", f"smo-rel-{uuid.uuid4().hex[:8]}")
    async with live_service(Settings(), dev_server.address, tmp_path / "worker.log") as service:
        yield service
