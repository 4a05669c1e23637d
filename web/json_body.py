"""Reading an API call's JSON body: its media type, its size and its depth, checked before parsing.

A JSON parser (and every walk over what it returns) recurses once per level of nesting, so a
body of a few hundred bytes nested a few hundred deep exhausts the interpreter's stack. Our
bodies nest three levels at most: the depth is bounded before the text reaches the parser,
by a scan of the raw bytes that skips strings and counts brackets. Nothing here echoes the
body in a message.
"""

from __future__ import annotations

import asyncio
import json
import re
from itertools import accumulate
from typing import Any

from aiohttp import web

from web.errors import WebError

MAX_JSON_BYTES = 1 << 20  # as the application's client_max_size: 413 beyond it
MAX_JSON_DEPTH = 16  # arrays and objects within one another; our bodies use three
JSON_TYPE = "application/json"
_SCAN_ON_LOOP = 64 << 10  # bytes

# A JSON string, escapes included (the unrolled form: linear, no backtracking). A string that
# never closes runs to the end of the body: matched once, not tried again from every later quote
# (which made the scan quadratic in the body's size).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
for _b in b"[{":
    _STEP[_b] = 1
for _b in b"]}":
    _STEP[_b] = -1


def nesting(raw: bytes) -> int:
    """How deep arrays and objects nest in `raw`, brackets inside strings not counted.

    For a text that is not JSON the answer may be too high; such a text is refused either way.
    """
    opens = raw.count(b"[") + raw.count(b"{")
    if opens <= MAX_JSON_DEPTH:  # the common case: too few brackets to nest too deep
        return opens
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def has_nul(value: Any) -> bool:
    """Whether a parsed JSON value (of bounded depth) holds a NUL in any key or string."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


async def read_json(request: web.Request) -> Any:
    """The call's JSON body (an empty body reads as `{}`), or a 413, 415 or 422 saying why not."""
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise WebError(413, "the body is too large")
    raw = await request.read()  # bounded by client_max_size as well: 413 beyond it
    if len(raw) > MAX_JSON_BYTES:
        raise WebError(413, "the body is too large")
    if not raw.strip():
        return {}
    if request.content_type != JSON_TYPE:
        raise WebError(415, f"send the body as {JSON_TYPE}")
    # A large body is scanned off the event loop (1 MiB of brackets takes about 50 ms).
    depth = nesting(raw) if len(raw) < _SCAN_ON_LOOP else await asyncio.to_thread(nesting, raw)
    if depth > MAX_JSON_DEPTH:
        raise WebError(422, f"the body nests arrays and objects more than {MAX_JSON_DEPTH} deep")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise WebError(422, "the body must be JSON") from None
