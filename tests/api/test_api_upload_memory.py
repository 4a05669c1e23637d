"""A large upload streams through the API into the encrypted store with bounded memory.

The body (1 GiB, generated on the fly, never held whole) goes as one multipart part with
no Content-Length; the server's resident memory is sampled while it encrypts.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator

from tests.api.conftest import LiveApi

SIZE = 1 << 30
BLOCK = 1 << 20
RSS_BUDGET = 96 << 20  # growth allowed while 1 GiB passes through: a few chunks, buffers, the DB


def rss() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def test_a_one_gib_upload_streams_into_the_store_with_bounded_server_memory(live_api: LiveApi) -> None:
    token = live_api.token("bulk")
    await live_api.open_case(token, "BULK-1")
    block = os.urandom(BLOCK)
    digest = hashlib.sha256()
    boundary = "bulkboundary"

    async def body() -> AsyncIterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="scan.dcm"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        for _ in range(SIZE // BLOCK):
            digest.update(block)
            yield block
        yield f"\r\n--{boundary}--\r\n".encode()

    baseline, peak = rss(), 0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss())
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    started = time.monotonic()
    try:
        status, answer, _ = await live_api.call(
            "POST",
            "/api/v1/cases/BULK-1/records?record_type=imaging",
            token,
            data=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    finally:
        done.set()
        await sampler
    elapsed = time.monotonic() - started
    assert status == 200, answer
    growth = peak - baseline
    print(
        f"\n1 GiB upload: {elapsed:.1f}s ({SIZE / elapsed / 1e6:.0f} MB/s), RSS growth {growth / 1e6:.1f} MB"
    )
    assert growth < RSS_BUDGET, f"server memory grew by {growth / 1e6:.0f} MB for a 1 GiB upload"
    doc_id = digest.hexdigest()
    assert live_api.services.store.exists(doc_id)
    # Only ciphertext touched the disk, and no spool file is left behind.
    assert not any((live_api.services.store.root / "tmp").iterdir())
    with live_api.services.store.path_for(doc_id).open("rb") as fh:
        assert block[:4096] not in fh.read(8 << 20)
