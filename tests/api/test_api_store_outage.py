"""S3 unreachable in the middle of an upload: the API answers a clear 503, nothing half-written is
under the store's documents, and the case never hears of the file.

The service stores its documents in SeaweedFS through a relay that the test cuts once the upload's
first part has reached the bucket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from models.settings import Settings
from runtime.blobs import open_blobs
from runtime.outbox import OutboxServer
from runtime.s3_stream import PART
from tests.api.conftest import LiveApi
from tests.polling import holds
from tests.seaweed import Relay, SeaweedFS
from tests.stores import keys_of
from tests.streaming import GeneratedUpload
from web.app import STORE_DOWN
from worker import Services

pytestmark = pytest.mark.s3

SIZE = 40 << 20


@pytest.fixture
def relay(seaweed: SeaweedFS) -> Iterator[Relay]:
    relay = Relay(seaweed.s3_port)
    yield relay
    relay.cut()


@pytest.fixture
def services(
    settings: Settings, outbox: OutboxServer, seaweed: SeaweedFS, relay: Relay
) -> Iterator[Services]:
    """The service on SQLite, its documents in SeaweedFS behind the relay."""
    settings.storage_url = seaweed.fresh_url().replace(seaweed.endpoint, relay.endpoint)
    svc = Services.from_settings(settings)
    yield svc
    svc.store.close()
    svc.engine.dispose()


async def test_s3_unreachable_during_an_upload_is_a_503_and_nothing_is_kept(
    live_api: LiveApi, relay: Relay, seaweed: SeaweedFS
) -> None:
    token = live_api.token("desk")
    await live_api.open_case(token, "S3-DOWN-1")
    # What the store holds now, read past the relay: the member's details sheet.
    direct = open_blobs(live_api.services.settings.storage_url.replace(relay.endpoint, seaweed.endpoint))
    before = keys_of(direct, "objects", "meta")
    upload = GeneratedUpload(SIZE, filename="ct-scan.dcm", boundary="outageboundary")

    async def body() -> AsyncIterator[bytes]:
        sent = 0
        async for piece in upload.body():
            yield piece
            sent += len(piece)
            if sent >= SIZE // 2 and not relay.is_cut:

                async def first_part_arrived() -> bool:
                    return relay.upstream > PART

                await holds(first_part_arrived)
                relay.cut()

    status, answer, _ = await live_api.call(
        "POST",
        "/api/v1/cases/S3-DOWN-1/records?record_type=imaging",
        token,
        data=body(),
        headers={"Content-Type": upload.content_type},
    )
    assert relay.is_cut, "the upload ended before the store was cut off"
    assert status == 503, answer
    assert answer["error"] == STORE_DOWN
    try:
        assert keys_of(direct, "objects", "meta") == before
    finally:
        direct.close()
    status, case, _ = await live_api.call("GET", "/api/v1/cases/S3-DOWN-1", token)
    assert status == 200, case
    assert case["records"]["documents"] == 0
