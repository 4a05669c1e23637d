"""S3 unreachable in the middle of an upload: the API answers a clear 503, nothing half-written is
under the store's documents, and the case never hears of the file.

The service stores its documents in SeaweedFS through a relay that the test cuts once the upload's
first part has reached the bucket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from runtime.blobs import open_blobs
from runtime.s3_stream import PART
from tests.api.conftest import LiveApi
from tests.polling import holds
from tests.relayed import cut_relay, relayed_services  # noqa: F401  (fixtures, used by name)
from tests.seaweed import Relay, SeaweedFS
from tests.stores import keys_of
from tests.streaming import GeneratedUpload
from web.app import STORE_DOWN

pytestmark = pytest.mark.s3

SIZE = 40 << 20


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
