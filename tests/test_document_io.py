"""The document store's threads: an upload waiting for the network holds none, and no client
holds more than its share of them. On each backend: the directory and S3."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import Awaitable, Callable

from runtime.document_io import DocumentIO
from runtime.documents import DocumentStore
from tests.polling import holds
from tests.stores import unfinished

WAIT = 60.0  # seconds; only a stuck test reaches it
CASE = "SMO-2026-000101"


def reads_of(data: bytes, size: int = 64 << 10) -> Callable[[], Awaitable[bytes]]:
    chunks = iter([data[i : i + size] for i in range(0, len(data), size)] + [b""])

    async def read() -> bytes:
        await asyncio.sleep(0)
        return next(chunks)

    return read


async def test_uploads_stalled_on_the_network_hold_no_thread(document_store: DocumentStore) -> None:
    store = document_store
    store.io = DocumentIO(workers=1, share=1)
    never = asyncio.Event()
    waiting_for_bytes = 0

    async def stalled() -> bytes:
        nonlocal waiting_for_bytes
        waiting_for_bytes += 1
        await never.wait()
        return b""

    async def all_spooling() -> bool:
        return waiting_for_bytes == 8

    waiting = [
        asyncio.create_task(store.receive(stalled, client=f"10.0.0.{i}", case_id=CASE)) for i in range(8)
    ]
    await holds(all_spooling)
    # Eight uploads wait for bytes that never come, and the store's only thread is free.
    data = os.urandom(3 << 20)
    stored = await asyncio.wait_for(store.receive(reads_of(data), client="10.0.0.99", case_id=CASE), WAIT)
    assert stored.doc_id == hashlib.sha256(data).hexdigest()
    assert store.read_small(CASE, stored.doc_id, limit=4 << 20) == data
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    assert unfinished(store) == [], "an abandoned upload left something behind"


async def test_one_client_holds_at_most_its_share_and_another_client_is_served_meanwhile() -> None:
    io = DocumentIO(workers=4, share=2)
    release = threading.Event()
    lock = threading.Lock()
    running, most = 0, 0

    def hold() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(WAIT)
        with lock:
            running -= 1

    async def share_taken() -> bool:
        return running == 2

    hogs = [asyncio.create_task(io.run("10.0.0.1", hold)) for _ in range(6)]
    try:
        await holds(share_taken)
        served = await asyncio.wait_for(io.run("10.0.0.2", lambda: "served"), WAIT)
        assert served == "served"
    finally:
        release.set()
        await asyncio.gather(*hogs)
    assert most == 2, f"one client held {most} of the store's threads at once"
