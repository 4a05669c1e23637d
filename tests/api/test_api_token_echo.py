"""No token, valid or not, reaches a response or a log line when a request is malformed.

aiohttp's parser refuses a header with a control character, and its own answer (and its log
line, with a traceback) quoted the refused line: `Authorization: Bearer <a valid token>\\x01`
came back to the sender, and went into the server's log. Here the server answers these with
a fixed text, and logs neither the line nor the token, through the aiohttp loggers and through
the service's own log pipeline alike.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from runtime.logging import configure_logging
from tests.api.conftest import LiveApi


class Lines(logging.Handler):
    """Every record as the plainest handler writes it: message, arguments and traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.text: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.text.append(self.format(record))


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Lines, io.StringIO]]:
    """The service's log pipeline (JSON lines, as `smo web` writes them) and a plain handler."""
    pipeline = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipeline)  # configure_logging's handler writes here
    configure_logging("json", "DEBUG")
    plain = Lines()
    logging.getLogger().addHandler(plain)
    yield plain, pipeline
    logging.getLogger().removeHandler(plain)


async def raw(url: str, request: bytes) -> bytes:
    """Send `request` as it is and return all the server answers before it closes."""
    address = urlsplit(url)
    assert address.hostname is not None and address.port is not None
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=60)
    finally:
        writer.close()


async def test_a_valid_token_after_a_control_character_is_in_no_response_and_no_log_line(
    live_api: LiveApi, logs: tuple[Lines, io.StringIO]
) -> None:
    token = live_api.token("desk")
    codec_token = next(iter(live_api.services.settings.codec_token_map()))
    host = urlsplit(live_api.url).netloc.encode()
    hostile = {
        "a control character after the bearer token": b"GET /api/v1/cases HTTP/1.1\r\nHost: "
        + host
        + b"\r\nAuthorization: Bearer "
        + token.encode()
        + b"\x01\r\n\r\n",
        "a token in a header name": b"GET /api/v1/cases HTTP/1.1\r\nHost: "
        + host
        + b"\r\n"
        + token.encode()
        + b"\x7f: 1\r\n\r\n",
        "the codec token in a request line with a control character": b"POST /codec/t/"
        + codec_token.encode()
        + b"\x01/decode HTTP/1.1\r\nHost: "
        + host
        + b"\r\n\r\n",
    }
    answers = {what: await raw(live_api.url, request) for what, request in hostile.items()}

    plain, pipeline = logs
    for handler in logging.getLogger().handlers:
        handler.flush()
    logged = "\n".join(plain.text) + "\n" + pipeline.getvalue()
    for secret in (token, token.removeprefix("smo_"), codec_token):
        assert not any(secret.encode() in answer for answer in answers.values()), "a token was echoed"
        assert secret not in logged, "a token reached the log"
    for what, answer in answers.items():
        assert answer.split(b" ", 2)[1] == b"400", (what, answer[:80])
        assert answer.endswith(b"\r\n\r\n400 Bad Request\n"), (what, answer[-80:])
    # The refusals are on the log all the same: by kind, and from whom.
    assert logged.count("Malformed request from 127.0.0.1 refused: ") >= len(hostile)
