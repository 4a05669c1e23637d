"""The depth scan before parsing takes time in proportion to the body, whatever the body holds."""

from __future__ import annotations

import time

from web.json_body import MAX_JSON_BYTES, nesting


def test_brackets_inside_strings_do_not_count() -> None:
    assert nesting(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "b": [1, [2]]}') == 3
    assert nesting(b"[" * 20 + b"]" * 20) == 20


def test_a_string_that_never_closes_is_scanned_once_not_from_every_quote() -> None:
    # Each `\"` was a new start for the string pattern, and each start read to the end: a
    # 1 MiB body took hours. Scanned once, it takes milliseconds; 20 s is for a crowded machine.
    for tail in (b"", b"\\"):
        body = b"[" * 17 + b'"' + b'\\"' * ((MAX_JSON_BYTES - 20) // 2) + tail
        started = time.perf_counter()
        assert nesting(body) == 17
        assert time.perf_counter() - started < 20
