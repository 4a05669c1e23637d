"""The portal's limits: a coarse flood guard per client address, and the limits that protect members.

Per client address only a flood guard, in memory per web process and set high
(`SMO_PORTAL_FLOOD_LIMIT`, 2,000 requests in 5 minutes): members behind one carrier address
(common on mobile networks) share it, so it must never be what stops one of them. The
client's address is the one the edge names (`runtime.clients`: behind a proxy named in
`SMO_TRUSTED_PROXIES`, from X-Forwarded-For).

What protects a member is counted per thing attacked, in the case DB that every `smo web`
process shares (`runtime.rate_limits`): each sign-in or confirmation link, each case's
sign-ins, the request form's email address and policy number. A refusal is a 429 page that
says when to try again (in ICT, the members' clock), with Retry-After.

A new sign-in link is the exception: the case number is in every email's subject, so a limit
counted per case number would let anyone keep its member on a 429. Its askers are limited
instead, per client address and per address and case: a member asks once or twice, so the
members behind one carrier address meet these only if many of them ask in the same hour. The
emails per case are capped once the date of birth has matched, silently (web.portal.new_link).
"""

from __future__ import annotations

import math
import time
from collections import deque
from datetime import UTC, datetime, timedelta

from runtime.i18n import ICT, N_
from runtime.rate_limits import Rule
from web.errors import WebError

FLOOD_WINDOW = 300.0  # seconds
LINK = Rule("link", 30, timedelta(minutes=5))  # one sign-in or confirmation link, opened or posted
CASE = Rule("case", 30, timedelta(hours=1))  # sign-in attempts on one case, all its links together
EMAIL = Rule("email", 5, timedelta(days=1))  # requests from the public form to one email address
POLICY = Rule("policy", 10, timedelta(days=1))  # requests from the public form for one policy number
# Requests for a new sign-in link from one client address, whatever case they name; and from
# one address naming one case. A member needs one or two.
NEW_LINK_FROM = Rule("new-link-addr", 10, timedelta(hours=1))
NEW_LINK_CASE = Rule("new-link-addr-case", 5, timedelta(hours=1))
# Emails a case sends for them, once the date of birth has matched: past it, a request is
# dropped without a word (the answer is the same), so whoever knows the number and the date
# cannot fill the member's mailbox. The desk's `smo portal link` is not counted.
NEW_LINK_MAIL = Rule("new-link-mail", 3, timedelta(days=1))

TRY_AGAIN = {
    "minute": N_("Too many attempts. Please try again after %(time)s (in about a minute)."),
    "minutes": N_("Too many attempts. Please try again after %(time)s (in about %(n)s minutes)."),
    "hours": N_("Too many attempts. Please try again after %(time)s (in about %(n)s hours)."),
}


class TooManyRequests(WebError):
    """A 429 whose page and Retry-After header say when to try again (the time in ICT)."""

    def __init__(self, wait: timedelta, now: datetime | None = None) -> None:
        seconds = max(math.ceil(wait.total_seconds()), 1)
        at = (now or datetime.now(UTC)) + timedelta(seconds=seconds)
        # Said to the minute, never before the wait is over.
        at = (at + timedelta(seconds=59, microseconds=999_999)).replace(second=0, microsecond=0)
        minutes = math.ceil(seconds / 60)
        span, n = ("minute", 1) if minutes == 1 else ("minutes", minutes)
        if minutes > 90:
            span, n = "hours", math.ceil(minutes / 60)
        # A clock time reads the same in both languages; a member's clock is on ICT.
        super().__init__(429, TRY_AGAIN[span], time=f"{at.astimezone(ICT):%H:%M} ICT", n=n)
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
