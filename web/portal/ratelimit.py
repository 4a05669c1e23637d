"""The portal's limits: a coarse flood guard per client address, and the limits that protect members.

Per client address only a flood guard, in memory per web process and set high
(`SMO_PORTAL_FLOOD_LIMIT`, 2,000 requests in 5 minutes): members behind one carrier address
(common on mobile networks) share it, so it must never be what stops one of them. The
client's address is the one the edge names (`runtime.clients`: behind a proxy named in
`SMO_TRUSTED_PROXIES`, from X-Forwarded-For).

What protects a member is counted per thing attacked, in the case DB that every `smo web`
process shares (`runtime.rate_limits`): each sign-in or confirmation link, each case's
sign-ins, and the request form's email address and policy number. A refusal is a 429 page
that says when to try again, with Retry-After.
"""

from __future__ import annotations

import math
import time
from collections import deque
from datetime import UTC, datetime, timedelta

from runtime.rate_limits import Rule
from web.errors import WebError

FLOOD_WINDOW = 300.0  # seconds
LINK = Rule("link", 30, timedelta(minutes=5))  # one sign-in or confirmation link, opened or posted
CASE = Rule("case", 30, timedelta(hours=1))  # sign-in attempts on one case, all its links together
EMAIL = Rule("email", 5, timedelta(days=1))  # requests from the public form to one email address
POLICY = Rule("policy", 10, timedelta(days=1))  # requests from the public form for one policy number


class TooManyRequests(WebError):
    """A 429 whose page and Retry-After header say when to try again."""

    def __init__(self, wait: timedelta, now: datetime | None = None) -> None:
        seconds = max(math.ceil(wait.total_seconds()), 1)
        at = (now or datetime.now(UTC)) + timedelta(seconds=seconds)
        minutes = math.ceil(seconds / 60)
        span = f"{minutes} minute" + "s" * (minutes > 1)
        if minutes > 90:
            span = f"{math.ceil(minutes / 60)} hours"
        super().__init__(
            429, f"Too many attempts. Please try again after {at:%H:%M} UTC (in about {span})."
        )
        self.headers = {"Retry-After": str(seconds)}


class SlidingWindow:
    """At most `limit` hits per key in the last `window_seconds`, in this process's memory."""

    def __init__(self, limit: int, window_seconds: float, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window = window_seconds
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str, now: float | None = None) -> bool:
        return self.wait(key, now) is None

    def wait(self, key: str, now: float | None = None) -> float | None:
        """Count a hit; None when allowed, else the seconds until the oldest hit leaves the window."""
        now = time.monotonic() if now is None else now
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:
                self._prune(now)
            hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return hits[0] + self.window - now
        hits.append(now)
        return None

    def _prune(self, now: float) -> None:
        for key in [k for k, h in self._hits.items() if not h or h[-1] <= now - self.window]:
            del self._hits[key]
