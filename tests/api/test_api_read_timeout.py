"""A request body that stops arriving is dropped after the read timeout (SMO_BODY_READ_TIMEOUT).

The timeout is one second here so that the test waits for the event itself: the server
answers 408 and closes the connection, and what the upload had stored is removed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.api.conftest import LiveApi
from tests.api.test_api_stalls import stalled_upload, streaming

CASE = "STALL-2"


@pytest.fixture
def smo_home(smo_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SMO_BODY_READ_TIMEOUT", "1")
    return smo_home


async def test_an_upload_whose_body_stops_arriving_is_answered_408_and_dropped(live_api: LiveApi) -> None:
    token = live_api.token("desk")
    await live_api.open_case(token, CASE)
    reader, writer = await stalled_upload(live_api.url, token, CASE)
    try:
        # Everything the server says, up to its closing the connection; a server without a
        # read timeout says nothing until the client gives up.
        answer = await asyncio.wait_for(reader.read(), timeout=60)
    finally:
        writer.close()
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 408 Request Timeout", answer[:200]
    assert streaming(live_api.services.store.root) == 0
    # The case took nothing, and the API goes on answering.
    status, body, _ = await live_api.call("GET", f"/api/v1/cases/{CASE}", token)
    assert status == 200, body
    assert body["records"]["received"] == {}
