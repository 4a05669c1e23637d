"""Reading a case: from the read model (runtime/case_views.py), never by waking its workflow.

Every edge reads a case here: the API's status and list, the portal's pages, the CLI (through
the API), the stage gauge. The case writes its own view whenever what it shows changes, so
the view is the case as of its last workflow task; an update answers only after its view is
written, and `wait_for_version` makes sure of it before a page is read after one.

A view the case does not keep itself (none at all, or one a rebuild wrote for a run from
before the read model) is read from the case's workflow instead: slower, never staler.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from temporalio.client import Client, WorkflowExecutionStatus

from models import search
from models.api import CaseSummary
from models.case import CaseStatus
from runtime.case_views import CaseViews, ListFilter, StoredView
from runtime.db import quick_read
from service.cases import describe, program_of, status

# How long a read after an update waits for the update's view, and how often it looks.
READ_YOUR_WRITES = timedelta(seconds=2)
_POLL = 0.01


@dataclass(frozen=True, slots=True)
class CaseFound:
    """What an edge decides on before it touches a case: its program (scope) and whether it runs."""

    program: str | None
    running: bool
    stage: str | None
    view: StoredView | None = None  # the case's view, when it is current (read once per call)


async def read_status(
    views: CaseViews, client: Client, case_id: str, found: CaseFound | None = None
) -> CaseStatus:
    """The case as it shows now (`NoCase` when there is no such case); `found` may bring its view."""
    stored = found.view if found is not None and found.view is not None else None
    if stored is None:
        stored = await quick_read(views.engine, views.read, case_id)
    if stored is not None and stored.current:
        return stored.status
    return await status(client, case_id)


async def find_case(views: CaseViews, client: Client, case_id: str) -> CaseFound | None:
    """The case's program and whether it runs; None when there is no such case. Its view comes
    with whether it has a hold or an erasure (the API's status shows both)."""
    stored = await quick_read(views.engine, partial(views.read, retention=True), case_id)
    if stored is not None and stored.current:
        return CaseFound(program=stored.program, running=stored.running, stage=stored.stage, view=stored)
    desc = await describe(client, case_id)
    if desc is None:
        return None
    return CaseFound(
        program=program_of(desc),
        running=desc.status == WorkflowExecutionStatus.RUNNING,
        stage=desc.typed_search_attributes.get(search.STAGE),
    )


async def wait_for_version(views: CaseViews, case_id: str, version: int) -> None:
    """Wait (briefly) until the case's view shows `version`: read-your-writes after an update.

    An update answers after its workflow task, which wrote its view, so this is one read;
    it waits only if that order ever fails, and gives up after `READ_YOUR_WRITES`.
    """
    if version <= 0:  # a run from before the read model
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READ_YOUR_WRITES.total_seconds()
    while True:
        stored = await quick_read(views.engine, views.version, case_id)
        if stored is None or stored >= version or loop.time() >= deadline:
            return
        await asyncio.sleep(_POLL)


async def list_cases(views: CaseViews, where: ListFilter, limit: int) -> list[CaseSummary]:
    return await quick_read(views.engine, views.list, where, limit)
