"""A large upload streams through the API into the encrypted store with bounded memory.

The body (1 GiB, generated on the fly, never held whole) goes as one multipart part with
no Content-Length; the server's resident memory is sampled while it encrypts.
"""

from __future__ import annotations

import time

from tests.api.conftest import LiveApi
from tests.streaming import GeneratedUpload, PeakRss

SIZE = 1 << 30
RSS_BUDGET = 96 << 20  # growth allowed while 1 GiB passes through: a few chunks, buffers, the DB


async def test_a_one_gib_upload_streams_into_the_store_with_bounded_server_memory(live_api: LiveApi) -> None:
    token = live_api.token("bulk")
    await live_api.open_case(token, "BULK-1")
    upload = GeneratedUpload(SIZE, filename="scan.dcm", boundary="bulkboundary")
    started = time.monotonic()
    async with PeakRss() as memory:
        status, answer, _ = await live_api.call(
            "POST",
            "/api/v1/cases/BULK-1/records?record_type=imaging",
            token,
            data=upload.body(),
            headers={"Content-Type": upload.content_type},
        )
    elapsed = time.monotonic() - started
    assert status == 200, answer
    growth = memory.growth
    print(
        f"\n1 GiB upload: {elapsed:.1f}s ({SIZE / elapsed / 1e6:.0f} MB/s), RSS growth {growth / 1e6:.1f} MB"
    )
    assert growth < RSS_BUDGET, f"server memory grew by {growth / 1e6:.0f} MB for a 1 GiB upload"
    doc_id = upload.digest.hexdigest()
    store = live_api.services.store
    assert store.exists("BULK-1", doc_id)
    # Only ciphertext touched the disk, and no spool file is left behind.
    assert not any((store.root / "tmp").iterdir())
    key = store.case_keys.for_reading("BULK-1")
    assert key is not None
    name = key.object_name(doc_id)  # the case's own name for it, not its digest
    with (store.root / "cases" / "BULK-1" / "objects" / name[:2] / name).open("rb") as fh:
        assert upload.block[:4096] not in fh.read(8 << 20)
