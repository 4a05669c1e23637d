"""Uploads that stop arriving cannot freeze the API.

Each stalled upload is what a hostile or broken client sends: a `POST …/records` that declares
a 100 MB body and sends only the part header, then holds the connection open. The server waits
for the rest on the event loop and holds no thread meanwhile, so calls that need a thread (the
token check, the case DB) still find one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from tests.api.conftest import LiveApi
from tests.polling import eventually

STALLED = 8
CASE = "STALL-1"
BOUNDARY = "stallboundary"


async def stalled_upload(
    url: str, token: str, case_id: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A records upload that declares 100 MB and sends only its part header; the caller holds it open."""
    address = urlsplit(url)
    assert address.hostname is not None and address.port is not None
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(
        (
            f"POST /api/v1/cases/{case_id}/records?record_type=imaging HTTP/1.1\r\n"
            f"Host: {address.netloc}\r\n"
            f"Authorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            "Content-Length: 100000000\r\n\r\n"
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="file"; filename="scan.dcm"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    return reader, writer


def streaming(store_root: Path) -> int:
    """Uploads the store is receiving now: each has one ciphertext file in its tmp folder."""
    return sum(1 for _ in (store_root / "tmp").iterdir())


def streaming_now(store_root: Path) -> Callable[[], Awaitable[int]]:
    async def probe() -> int:
        return streaming(store_root)

    return probe


async def test_eight_stalled_uploads_leave_the_case_status_answering_within_a_second(
    live_api: LiveApi,
) -> None:
    token = live_api.token("desk")
    await live_api.open_case(token, CASE)
    loop = asyncio.get_running_loop()
    # The first call sets up what every later one reuses (the Temporal connection, the worker's
    # cache); the figure below is a call like any other, not the first.
    status, body, _ = await live_api.call("GET", f"/api/v1/cases/{CASE}", token)
    assert status == 200, body

    store_root = live_api.services.store.root
    uploads = [await stalled_upload(live_api.url, token, CASE) for _ in range(STALLED)]
    try:
        await eventually(
            streaming_now(store_root),
            lambda n: n == STALLED,
            within=60,
            what=lambda n: f"{n} of {STALLED} stalled uploads reached the store",
        )
        started = loop.time()
        status, body, _ = await asyncio.wait_for(
            live_api.call("GET", f"/api/v1/cases/{CASE}", token), timeout=60
        )
        elapsed = loop.time() - started
        print(f"\nGET /api/v1/cases/{{id}} with {STALLED} stalled uploads: {elapsed * 1000:.0f} ms")
        assert status == 200, body
        assert elapsed < 1.0, f"the case status took {elapsed:.1f} s with {STALLED} uploads stalled"
        # The uploads are still held open, and still waiting: the server neither gave up on them
        # early nor answered them.
        assert streaming(store_root) == STALLED
        assert not any(reader.at_eof() for reader, _ in uploads)
    finally:
        for _, writer in uploads:
            writer.close()
    # Closed uploads leave nothing behind.
    await eventually(
        streaming_now(store_root),
        lambda n: n == 0,
        what=lambda n: f"{n} spool files left after the uploads closed",
    )
