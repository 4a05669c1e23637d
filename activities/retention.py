"""Erasing a closed case, on request or when its program's retention runs out, and finding those due.

An erasure destroys the case's key and removes every object of the case from the store
(runtime/documents.py), then forgets its member in the case DB and leaves the stub
(runtime/case_retention.py). The store goes first: if the run is killed between the two, the
next one finds no stub, erases the store's remainder (the key is gone already) and writes it.
A case that is not closed, is under legal hold, or may still have documents in the shared
store of before case keys (`legacy`) is refused, for good: retrying cannot change that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.db import CaseRow
from models.program import Program
from models.retention import DueCase, EraseCase, ErasureResult, PurgeDue, PurgeList
from runtime import case_retention
from runtime.case_retention import aware
from runtime.documents import DocumentStore

T = TypeVar("T")
HEARTBEAT_EVERY = 10.0  # seconds: a store's long erasure still says it is alive


def refusal(message: str, kind: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


def years_before(moment: datetime, years: int) -> datetime:
    """The same calendar day `years` earlier (29 February falls back to the 28th)."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


class RetentionActivities:
    def __init__(self, store: DocumentStore, engine: Engine, programs: Mapping[str, Program]) -> None:
        self.store = store
        self.engine = engine
        self.programs = programs

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        """Run blocking work on a thread, heartbeating while it runs (erasing a large case takes a while)."""
        work = asyncio.ensure_future(asyncio.to_thread(fn))
        while True:
            done, _ = await asyncio.wait({work}, timeout=HEARTBEAT_EVERY)
            if done:
                return work.result()
            activity.heartbeat()

    def _check(self, req: EraseCase) -> CaseRow:
        """The case, or the first rule it breaks (runtime/case_retention.py), non-retryable."""
        refused = case_retention.erasure_refusal(self.engine, self.store.case_keys, req.case_id)
        if refused is not None:
            raise refusal(refused.message, refused.kind)
        case = case_retention.case_row(self.engine, req.case_id)
        assert case is not None  # a case that is not there is refused as not closed
        return case

    def _erase(self, req: EraseCase) -> ErasureResult:
        done = case_retention.erasure_of(self.engine, req.case_id)
        if done is not None:
            # Erased already: the store is asked again all the same (it finds nothing left),
            # and the stub stays as it was.
            self.store.erase_case(req.case_id)
            return done
        case = self._check(req)
        objects = self.store.erase_case(req.case_id)
        result, wrote = case_retention.forget_case(
            self.engine, case, how=req.how, reason=req.reason, by=req.by, objects=objects
        )
        if wrote:
            activity.logger.info(
                "case %s %s: %d documents, %d objects", req.case_id, req.how, result.documents, objects
            )
        return result

    @activity.defn(name="erase_case")
    async def erase_case(self, req: EraseCase) -> ErasureResult:
        """Erase one closed case (idempotent); a refusal is a non-retryable error saying why."""
        return await self._in_thread(lambda: self._erase(req))

    def _due(self, req: PurgeDue) -> PurgeList:
        cutoffs, reasons = {}, {}
        now = aware(req.now)
        assert now is not None
        for name, program in self.programs.items():
            cutoffs[name] = years_before(now, program.retention.years_after_close)
            reasons[name] = program.retention.reason
        cases: list[DueCase] = case_retention.due_cases(
            self.engine, cutoffs, reasons, after=req.after, limit=req.limit
        )
        return PurgeList(cases=cases, more=len(cases) == req.limit)

    @activity.defn(name="due_for_purge")
    async def due_for_purge(self, req: PurgeDue) -> PurgeList:
        """Closed cases past their program's retention, not held, erased or legacy (one batch)."""
        return await asyncio.to_thread(self._due, req)
