"""The service with its documents in SeaweedFS behind a relay a test cuts (and restores): the
fixtures of the tests of a store outage. Imported by those test modules, which use them by name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from models.settings import Settings
from runtime.outbox import OutboxServer
from tests.seaweed import Relay, SeaweedFS
from worker import Services


@pytest.fixture(name="relay")
def cut_relay(seaweed: SeaweedFS) -> Iterator[Relay]:
    relay = Relay(seaweed.s3_port)
    yield relay
    relay.cut()


@pytest.fixture(name="services")
def relayed_services(
    settings: Settings, outbox: OutboxServer, seaweed: SeaweedFS, relay: Relay
) -> Iterator[Services]:
    """The service on SQLite, its documents in SeaweedFS behind the relay."""
    settings.storage_url = seaweed.fresh_url().replace(seaweed.endpoint, relay.endpoint)
    svc = Services.from_settings(settings)
    yield svc
    svc.store.close()
    svc.engine.dispose()
