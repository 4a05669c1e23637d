"""Waiting, in a test, for what another task or process does: one helper with one deadline.

A fixed number of tries is a wall-clock margin in disguise (200 tries of 50 ms run out after
about ten seconds whatever happened meanwhile), and on a busy two-core machine a worker can
take that long to get its turn. `eventually` keeps asking until the answer is right and gives
up only at a deadline that no healthy run comes near; a caller that can tell the wait has become
hopeless (the case ended in another stage) says so with `hopeless`, and the wait ends at that
event instead of at the deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

T = TypeVar("T")

DEADLINE = 120.0
"""Seconds. Only a stuck test gets here; a slow machine does not."""

INTERVAL = 0.05
"""Seconds between two probes: short, so that a test waits about as long as the thing it waits for."""


async def eventually(
    probe: Callable[[], Awaitable[T]],
    ok: Callable[[T], bool],
    *,
    within: float = DEADLINE,
    hopeless: Callable[[T], bool] | None = None,
    what: Callable[[T], str] | None = None,
) -> T:
    """Poll `probe` until `ok` holds for its value, and return that value.

    Fails with `what(last value)` (or the value itself) once `hopeless` holds for a value that
    is not ok, or after `within` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await probe()
        if ok(value):
            return value
        if hopeless is not None and hopeless(value):
            raise AssertionError(what(value) if what else f"never {value!r}")
        if loop.time() > deadline:
            raise AssertionError((what(value) if what else f"still {value!r}") + f" (after {within:.0f} s)")
        await asyncio.sleep(INTERVAL)


async def holds(predicate: Callable[[], Awaitable[bool]], *, within: float = DEADLINE) -> None:
    """Wait until an async predicate is true (the page shows it, the mail arrived...)."""
    await eventually(predicate, bool, within=within, what=lambda _: "the condition never held")


def until(probe: Callable[[], bool], *, within: float, what: Callable[[], str]) -> None:
    """`eventually` for the code that starts servers outside an event loop (a session fixture):
    ask `probe` until it holds; fail the test with `what()` after `within` seconds."""
    deadline = time.monotonic() + within
    while not probe():
        if time.monotonic() > deadline:
            pytest.fail(what())
        time.sleep(INTERVAL)
