"""The calendar watch's activities: notice a saved decree, find the cases it can move, tell them.

`watch_overrides` waits (heartbeating) until the holiday-overrides file's digest differs
from the one last seen, then parses it and compares it with the overrides in force for
running cases. `list_affected_cases` asks visibility for the open cases whose deadline is on
or after the first changed date; `signal_calendar_change` sends each the `calendar_changed`
signal. Every step is idempotent: the workflow passes in what it has applied, and a case that
receives a change twice recomputes the same deadline and does nothing the second time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from calendars import CalendarService, HolidayOverrides, parse_overrides
from calendars.changes import diff_overrides
from calendars.overrides import MAX_OVERRIDES_BYTES
from models import calendar_watch as watch  # requests and results, shared with the watch workflow
from models.case import SlaState, workflow_id_for
from models.db import CaseRow
from models.sla import CalendarChange

__all__ = [
    "ABSENT",
    "CALENDAR_CHANGED",
    "CalendarWatchActivities",
    "CaseDbFinder",
    "VisibilityFinder",
    "file_digest",
    "watch_activities",
]

CALENDAR_CHANGED = "calendar_changed"
CASE_WORKFLOW_TYPE = "SmoCase"
# Clocks with a deadline to move; a paused clock recomputes when it restarts.
_OPEN_SLA_STATES = (SlaState.RUNNING, SlaState.WARNING, SlaState.BREACHED)
# Signals in flight at once: enough to reach thousands of cases in seconds, few enough
# not to crowd the frontend.
_SIGNAL_BATCH = 20
# The digest of a file that does not exist (no overrides): not a sha256, so never equal to one.
ABSENT = "absent"


def file_digest(data: bytes | None) -> str:
    return ABSENT if data is None else hashlib.sha256(data).hexdigest()


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        with path.open("rb") as f:
            # Read once a second: never more than one byte past what a valid file may hold.
            return f.read(MAX_OVERRIDES_BYTES + 1)
    except FileNotFoundError:
        return None


class VisibilityFinder:
    """Open cases whose running clock's deadline (`SmoSlaDeadline`) is on or after a date."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @staticmethod
    def query(earliest: dt.date) -> str:
        # A day early, at midnight UTC: the deadline is stored as an instant and the SLA
        # zone differs by program; a case too many is harmless, one too few is not.
        cutoff = dt.datetime.combine(earliest - dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC)
        states = ", ".join(f"'{s.value}'" for s in _OPEN_SLA_STATES)
        return (
            f"WorkflowType = '{CASE_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' "
            f"AND SmoSlaState IN ({states}) AND SmoSlaDeadline >= '{cutoff:%Y-%m-%dT%H:%M:%SZ}'"
        )

    async def open_cases(self, earliest: dt.date) -> list[str]:
        return [w.id async for w in self.client.list_workflows(self.query(earliest))]


class CaseDbFinder:
    """Every case the case DB has not closed: for a server without visibility listing.

    The time-skipping test server implements no ListWorkflowExecutions; the case DB
    knows no deadline, so every open case is a candidate (each recomputes and, when its
    deadline did not move, does nothing).
    """

    def __init__(self, engine: sqlalchemy.Engine) -> None:
        self.engine = engine

    def _ids(self) -> list[str]:
        query = select(CaseRow.case_id).where(col(CaseRow.closed_at).is_(None))
        with Session(self.engine) as session:
            return [workflow_id_for(case_id) for case_id in session.exec(query)]

    async def open_cases(self, earliest: dt.date) -> list[str]:
        return await asyncio.to_thread(self._ids)


class CalendarWatchActivities:
    """The watch's side effects: the overrides file and the case DB injected, the worker's client."""

    def __init__(
        self,
        calendars: CalendarService,
        engine: sqlalchemy.Engine,
        *,
        poll_seconds: float = 1.0,
        settle_seconds: float = 0.3,
    ) -> None:
        self.path = calendars.overrides_path
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.settle_seconds = settle_seconds

    @property
    def client(self) -> Client:
        # The worker's own client: the SDK hands it to each running activity.
        return activity.client()

    # ---- (a) notice a change, (b) diff it ------------------------------------------------

    @activity.defn(name="watch_overrides")
    async def watch_overrides(self, req: watch.WatchRequest) -> watch.Observation:
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + req.wait_seconds
        while True:
            data = await asyncio.to_thread(_read, self.path)
            digest = file_digest(data)
            if (req.applied is None or digest != req.seen_digest) and await self._settled(data):
                applied = None if req.applied is None else HolidayOverrides.model_validate(req.applied)
                return self._observe(applied, data, digest)
            activity.heartbeat()
            if loop.time() >= give_up_at or activity.is_worker_shutdown():
                # Hand the watch back to the workflow: a short history per wait, and a
                # worker that stops is not held up by a wait that could last minutes.
                return watch.Observation(digest=digest, unchanged=True)
            await asyncio.sleep(self.poll_seconds)

    async def _settled(self, data: bytes | None) -> bool:
        """The file reads the same a moment later. An editor's save truncates and then writes:
        caught in between, an empty or half-written file would take every decree back."""
        await asyncio.sleep(self.settle_seconds)
        return await asyncio.to_thread(_read, self.path) == data

    def _observe(
        self, applied: HolidayOverrides | None, data: bytes | None, digest: str
    ) -> watch.Observation:
        try:
            new = (
                HolidayOverrides()
                if data is None
                else parse_overrides(data.decode("utf-8"), self.path or "holiday overrides")
            )
        except (UnicodeDecodeError, ValueError) as exc:
            activity.logger.warning("holiday overrides file not applied: %s", exc)
            return watch.Observation(digest=digest, error=str(exc)[:1000])
        mapping = new.model_dump(mode="json")
        if applied is None:
            return watch.Observation(digest=digest, overrides=mapping)  # the baseline: nothing to tell
        diff = diff_overrides(applied, new)
        if diff.empty:
            return watch.Observation(digest=digest, overrides=mapping)
        change = CalendarChange(
            decree=diff.decree, added=diff.added, removed=diff.removed, digest=digest[:64]
        )
        return watch.Observation(digest=digest, overrides=mapping, change=change, earliest=diff.earliest)

    # ---- (c) the cases the change can move -----------------------------------------------

    @activity.defn(name="list_affected_cases")
    async def list_affected_cases(self, req: watch.AffectedRequest) -> watch.AffectedCases:
        try:
            ids = await VisibilityFinder(self.client).open_cases(req.earliest)
            return watch.AffectedCases(workflow_ids=sorted(set(ids)), source="visibility")
        except RPCError as err:
            if err.status != RPCStatusCode.UNIMPLEMENTED:
                raise
        activity.logger.warning("visibility cannot list workflows here: every open case is a candidate")
        ids = await CaseDbFinder(self.engine).open_cases(req.earliest)
        return watch.AffectedCases(workflow_ids=sorted(set(ids)), source="case-db")

    # ---- (d) tell them ---------------------------------------------------------------------

    @activity.defn(name="signal_calendar_change")
    async def signal_calendar_change(self, req: watch.SignalRequest) -> watch.SignalReport:
        # A retry resumes after the last batch it reported; a batch resent is harmless.
        details = activity.info().heartbeat_details
        start = int(details[0]) if details else 0
        signalled = gone = 0
        for offset in range(start, len(req.workflow_ids), _SIGNAL_BATCH):
            batch = req.workflow_ids[offset : offset + _SIGNAL_BATCH]
            results = await asyncio.gather(*(self._signal(wid, req.change) for wid in batch))
            signalled += sum(results)
            gone += len(results) - sum(results)
            activity.heartbeat(offset + len(batch))
        return watch.SignalReport(signalled=signalled, gone=gone)

    async def _signal(self, workflow_id: str, change: CalendarChange) -> bool:
        try:
            await self.client.get_workflow_handle(workflow_id).signal(CALENDAR_CHANGED, change)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False  # closed since it was listed: nothing to move
            raise
        return True


def watch_activities(acts: CalendarWatchActivities) -> list[Callable[..., Any]]:
    """The activity methods a worker registers."""
    return [acts.watch_overrides, acts.list_affected_cases, acts.signal_calendar_change]
