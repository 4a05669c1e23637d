"""Rebuilding the case read model from the workflows: disaster recovery, and the upgrade.

`smo db rebuild-read-model` asks every case the Temporal server keeps for its `status` (a
running case answers from its worker; a closed one is replayed from its history) and writes
it as the case's view, marked as written by a rebuild. A write keeps the newer version, so a
case that changes while the rebuild runs keeps its own, newer view; a rebuilt view of a
running case is read from the case itself until the case writes its own (service/views.py),
which covers runs that started before the read model and never write one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from models.case import CaseStatus
from models.case_view import CaseViewWrite
from runtime.case_views import CaseViews
from service.cases import status

# Cases asked at once: each is a query, and a closed one a replay on a worker.
CONCURRENCY = 8


@dataclass
class Rebuilt:
    running: int = 0
    closed: int = 0
    kept_newer: int = 0  # the case had written a newer view while it was rebuilt
    failed: list[str] = field(default_factory=list)  # cases that did not answer (ids only)


async def rebuild_read_model(client: Client, views: CaseViews, *, concurrency: int = CONCURRENCY) -> Rebuilt:
    """Write every case's view from its workflow; what happened, counted."""
    done = Rebuilt()
    gate = asyncio.Semaphore(concurrency)

    async def one(case_id: str, running: bool) -> None:
        async with gate:
            try:
                current: CaseStatus = await status(client, case_id)
            except RPCError:
                done.failed.append(case_id)
                return
        view = CaseViewWrite(version=current.version, running=running, status=current)
        stored = await asyncio.to_thread(views.write, view, by_case=False)
        if stored > current.version:
            done.kept_newer += 1
        if running:
            done.running += 1
        else:
            done.closed += 1

    jobs = []
    async for wf in client.list_workflows("WorkflowType = 'SmoCase'"):
        running = wf.status == WorkflowExecutionStatus.RUNNING
        jobs.append(asyncio.ensure_future(one(wf.id.removeprefix("smo-"), running)))
    await asyncio.gather(*jobs)
    return done
