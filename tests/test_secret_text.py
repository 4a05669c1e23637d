"""Tokens never reach a log line: masked in free text, in aiohttp's records and in the pipeline."""

from __future__ import annotations

import logging
import secrets

import pytest

from runtime.logging import SecretFilter, mask_secrets_at_source
from security.redaction import redact_phi
from security.secret_text import MASK, mask_secrets

API_TOKEN = "smo_" + secrets.token_urlsafe(32)
LINK_TOKEN = secrets.token_urlsafe(32)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"b'Authorization: Bearer {API_TOKEN}\\x01'", f"b'Authorization: Bearer {MASK}'"),
        (f"Authorization: Bearer {API_TOKEN}\x01", f"Authorization: Bearer {MASK}"),
        (f"authorization={API_TOKEN}", f"authorization={MASK}"),
        (f"Authorization: Basic {LINK_TOKEN}", f"Authorization: Basic {MASK}"),
        (f"the token {API_TOKEN} was refused", f"the token smo_{MASK} was refused"),
        (f"POST /codec/t/{LINK_TOKEN}/decode HTTP/1.1", f"POST /codec/t/{MASK}/decode HTTP/1.1"),
        (f"GET /portal/signin/{LINK_TOKEN} HTTP/1.1", f"GET /portal/signin/{MASK} HTTP/1.1"),
        (
            f"/portal/assignments/C-1/2/1790000000/{LINK_TOKEN}/records/ab12",
            f"/portal/assignments/C-1/2/1790000000/{MASK}/records/ab12",
        ),
        (
            f"/reports/C-1/ab12?for=member&exp=1790000000&sig={LINK_TOKEN}",
            f"/reports/C-1/ab12?for=member&exp=1790000000&sig={MASK}",
        ),
    ],
    # Named, not shown: the tokens are random, and parallel workers must collect the same tests.
    ids=[
        "bytes-repr",
        "bearer",
        "query",
        "basic",
        "free-text",
        "codec-path",
        "sign-in-path",
        "assignment",
        "report",
    ],
)
def test_tokens_in_free_text_are_masked_and_say_what_they_were(text: str, masked: str) -> None:
    assert mask_secrets(text) == masked


@pytest.mark.parametrize(
    "text", ["smo_phi_state", "workflow smo-C-1 on smo_cases", "GET /api/v1/cases/C-1 HTTP/1.1", "Bearer"]
)
def test_operational_text_is_left_alone(text: str) -> None:
    assert mask_secrets(text) == text


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_an_aiohttp_error_with_a_token_in_its_traceback_is_masked_before_any_handler() -> None:
    mask_secrets_at_source(["tests.aiohttp-like"])
    mask_secrets_at_source(["tests.aiohttp-like"])  # once is enough, twice does no harm
    logger = logging.getLogger("tests.aiohttp-like")
    assert sum(isinstance(f, SecretFilter) for f in logger.filters) == 1
    handler = Records()
    logger.addHandler(handler)
    try:
        try:
            raise ValueError(f"Invalid header value char: b'Authorization: Bearer {API_TOKEN}\\x01'")
        except ValueError:
            logger.exception("Error handling request from %s", "127.0.0.1")
    finally:
        logger.removeHandler(handler)
    (record,) = handler.records
    text = logging.Formatter().format(record)
    assert API_TOKEN not in text
    assert "Error handling request from 127.0.0.1" in text
    assert f"Bearer {MASK}" in text  # the traceback is kept, masked


def test_the_log_pipeline_masks_tokens_in_every_field() -> None:
    line = {"event": f"codec call /codec/t/{LINK_TOKEN}", "header": f"Bearer {API_TOKEN}"}
    out = redact_phi(None, "info", line)
    assert LINK_TOKEN not in str(out) and API_TOKEN not in str(out)
