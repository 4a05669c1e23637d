"""Hit counters in the case DB, shared by every `smo web` process: one fixed window per key.

One statement counts a hit and reads the count back (INSERT … ON CONFLICT DO UPDATE …
RETURNING, on SQLite and PostgreSQL alike), so two processes counting the same key at the
same moment both see their own hit: a limit holds however many processes serve the portal.
Keys are keyed hashes of what they count (an email address, a policy number, a link, a
case): the table holds no PHI and no token. A fixed window is coarse at its edges (up to
twice the limit across a boundary) and costs one row per key; that is enough for limits
whose job is to make abuse slow, not to meter.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, case, delete

from models.db import table, upsert_insert
from models.intake_tables import RateCounter

_COUNTERS = table(RateCounter)
_KEY_LENGTH = 80  # RateCounter.key
# Counters whose window ended longer ago than this are removed now and then.
_KEEP = timedelta(days=2)
_PRUNE_EVERY = 300.0  # seconds, per process
_DIGEST = 48  # hex characters of a key's hash, after its scope and a colon


@dataclass(frozen=True)
class Rule:
    """At most `limit` hits on one `scope` key per `window`."""

    scope: str
    limit: int
    window: timedelta

    def __post_init__(self) -> None:
        # A key longer than its column fails on PostgreSQL only: say so where the rule is made.
        longest = _KEY_LENGTH - _DIGEST - 1
        if not 0 < len(self.scope) <= longest:
            raise ValueError(f"a rate rule's scope is 1 to {longest} characters: {self.scope!r}")


class SharedCounters:
    def __init__(self, engine: Engine, key: bytes) -> None:
        self.engine = engine
        self.key = key
        self._pruned = 0.0

    def key_for(self, rule: Rule, subject: str) -> str:
        digest = hmac.new(self.key, f"rate|{rule.scope}|{subject}".encode(), hashlib.sha256).hexdigest()
        return f"{rule.scope}:{digest[:_DIGEST]}"

    def hit(self, rule: Rule, subject: str, now: datetime | None = None) -> timedelta | None:
        """Count one hit; None while within the limit, else how long until the window ends."""
        now = now or datetime.now(UTC)
        cutoff = now - rule.window
        expired = _COUNTERS.c.window_start <= cutoff
        with self.engine.begin() as conn:
            insert = upsert_insert(conn)(_COUNTERS)
            statement = (
                insert.values(key=self.key_for(rule, subject), window_start=now, hits=1)
                .on_conflict_do_update(
                    index_elements=["key"],
                    # Both expressions read the row as it was: a window that has ended starts anew.
                    set_={
                        "hits": case((expired, 1), else_=_COUNTERS.c.hits + 1),
                        "window_start": case((expired, now), else_=_COUNTERS.c.window_start),
                    },
                )
                .returning(_COUNTERS.c.hits, _COUNTERS.c.window_start)
            )
            row = conn.execute(statement).one()
            hits, started = int(row.hits), row.window_start
            assert isinstance(started, datetime)
            self._prune(conn, now)
        if hits <= rule.limit:
            return None
        started = started if started.tzinfo is not None else started.replace(tzinfo=UTC)
        return max(started + rule.window - now, timedelta(seconds=1))

    def _prune(self, conn: Connection, now: datetime) -> None:
        clock = time.monotonic()
        if self._pruned and clock - self._pruned < _PRUNE_EVERY:
            return
        self._pruned = clock
        conn.execute(delete(_COUNTERS).where(_COUNTERS.c.window_start < now - _KEEP))
