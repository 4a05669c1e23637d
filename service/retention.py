"""Legal holds and erasure as the edges ask for them, and the namespace-wide retention set-up.

A supervisor puts a case under legal hold (the purge skips it, an erasure is refused) and lifts
it again; both are on the audit trail. An erasure on request is refused here, before anything
starts, for a case that is running, not closed, held, erased already or legacy (its documents
may be in the shared store of before case keys); otherwise it starts `EraseCaseWorkflow`
(`erase-<case id>`) and answers at once: the workflow erases the store and then the case DB,
and the stub it leaves is what `erasure_state` reports.

Every worker start makes sure the daily `smo-retention-purge` Schedule exists (one per
namespace; one that exists is left as it is), and `smo dev` sets its server's namespace
retention for closed workflow histories (docs/retention.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Literal

from google.protobuf.duration_pb2 import Duration
from sqlalchemy import Engine
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import UpdateNamespaceRequest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import FailureError
from temporalio.service import RPCError, RPCStatusCode

from models import search
from models.retention import EraseCase, ErasureResult, ErasureStarted, HoldState, PurgeRequest
from runtime import case_retention
from runtime.db import audit_off_loop, quick_read
from runtime.documents import DocumentStore
from service.cases import RPC_TIMEOUT
from service.errors import CaseConflict
from workflows.retention import (
    PURGE_WORKFLOW_ID,
    EraseCaseWorkflow,
    RetentionPurgeWorkflow,
    erase_workflow_id,
)

PURGE_SCHEDULE_ID = "smo-retention-purge"
# 02:30 at the desk, every day: after the working day, before the next one.
PURGE_AT = ScheduleCalendarSpec(hour=[ScheduleRange(2)], minute=[ScheduleRange(30)])
PURGE_ZONE = "Asia/Phnom_Penh"
# How long the server keeps a closed workflow's history (`smo dev`; production: docs/retention.md).
NAMESPACE_RETENTION = timedelta(days=30)

ErasureState = ErasureResult | Literal["pending", "none"]


_when = case_retention.when_utc


# ---- legal holds --------------------------------------------------------------------------


async def place_hold(engine: Engine, *, case_id: str, reason: str, by: str) -> HoldState:
    """Put the case under legal hold (a case held already keeps its hold); audited."""
    erased = await asyncio.to_thread(case_retention.erasure_of, engine, case_id)
    if erased is not None:
        raise CaseConflict(f"case {case_id} was erased at {_when(erased.erased_at)}; nothing is left to hold")
    state, placed = await asyncio.to_thread(case_retention.place_hold, engine, case_id, reason, by)
    detail = reason if placed else f"held already since {_when(state.held_at)} by {state.held_by}"
    await audit_off_loop(
        engine, actor=by, action="case.hold", outcome=state.detail, case_id=case_id, detail=detail
    )
    return state


async def release_hold(engine: Engine, *, case_id: str, by: str) -> HoldState:
    """Lift the case's legal hold; a case not held is a conflict. Audited."""
    held = await asyncio.to_thread(case_retention.release_hold, engine, case_id)
    if held is None:
        await audit_off_loop(
            engine, actor=by, action="case.release", outcome="refused", case_id=case_id, detail="not held"
        )
        raise CaseConflict(f"case {case_id} is not under legal hold")
    detail = f"the hold placed by {held.held_by} at {_when(held.held_at)}"
    await audit_off_loop(
        engine, actor=by, action="case.release", outcome="released", case_id=case_id, detail=detail
    )
    return HoldState(case_id=case_id, held=False, detail=f"released {detail}")


async def retention_of(engine: Engine, case_id: str) -> tuple[HoldState | None, ErasureResult | None]:
    """The case's legal hold and its erasure's stub (either None)."""
    return await quick_read(engine, case_retention.retention_of, engine, case_id)


# ---- erasure ------------------------------------------------------------------------------


def _refusal(engine: Engine, store: DocumentStore, case_id: str) -> str | None:
    """Why the case cannot be erased now, from the case DB; None when it can."""
    erased = case_retention.erasure_of(engine, case_id)
    if erased is not None:
        return f"case {case_id} was erased already, at {_when(erased.erased_at)} ({erased.how})"
    refused = case_retention.erasure_refusal(engine, store.case_keys, case_id)
    return None if refused is None else refused.message


async def start_erasure(
    client: Client,
    engine: Engine,
    store: DocumentStore,
    *,
    task_queue: str,
    case_id: str,
    reason: str,
    by: str,
    case: WorkflowExecutionDescription | None,
) -> ErasureStarted:
    """Start erasing a closed case (`case` is its workflow, if the server still keeps it); audited.

    The answer does not wait for the store: the erase workflow runs on, and a second call
    while it runs finds the same one.
    """
    refused: str | None = None
    if case is not None and case.status == WorkflowExecutionStatus.RUNNING:
        stage = case.typed_search_attributes.get(search.STAGE) or "open"
        refused = f"case {case_id} is still running ({stage}); close or cancel it before erasing it"
    refused = refused or await asyncio.to_thread(_refusal, engine, store, case_id)
    if refused is not None:
        await audit_off_loop(
            engine, actor=by, action="case.erase", outcome="refused", case_id=case_id, detail=refused
        )
        raise CaseConflict(refused)
    workflow_id = erase_workflow_id(case_id)
    await client.start_workflow(
        EraseCaseWorkflow.run,
        EraseCase(case_id=case_id, how="erased", reason=reason, by=by),
        id=workflow_id,
        task_queue=task_queue,
        # One erasure of a case at a time; a refused or failed one may be asked again.
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        static_summary=f"Erase case {case_id}",
        rpc_timeout=RPC_TIMEOUT,
    )
    await audit_off_loop(
        engine, actor=by, action="case.erase", outcome="started", case_id=case_id, detail=reason
    )
    return ErasureStarted(case_id=case_id, workflow_id=workflow_id)


async def erasure_of(engine: Engine, case_id: str) -> ErasureResult | None:
    """The stub the case left when it was erased, or None."""
    return await asyncio.to_thread(case_retention.erasure_of, engine, case_id)


async def erasure_state(client: Client, engine: Engine, case_id: str) -> ErasureState:
    """The case's erasure: its stub once done, "pending" while the erase workflow runs, "none"
    when no erasure was asked for. An erasure that failed is a conflict that says why."""
    done = await erasure_of(engine, case_id)
    if done is not None:
        return done
    handle = client.get_workflow_handle_for(EraseCaseWorkflow.run, erase_workflow_id(case_id))
    try:
        desc = await handle.describe(rpc_timeout=RPC_TIMEOUT)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return "none"
        raise
    if desc.status == WorkflowExecutionStatus.RUNNING:
        return "pending"
    try:
        await handle.result(rpc_timeout=RPC_TIMEOUT)
    except WorkflowFailureError as err:
        cause = err.cause
        while isinstance(cause, FailureError) and cause.cause is not None:
            cause = cause.cause
        why = cause.message if isinstance(cause, FailureError) else str(cause)
        raise CaseConflict(f"the erasure of case {case_id} failed: {why}") from None
    # Completed, yet no stub: read again (the stub is written before the workflow completes).
    return await erasure_of(engine, case_id) or "none"


def program_on_file(engine: Engine, case_id: str) -> str | None:
    """The program the case DB has for a case (its stub's, once erased): what scopes the case's
    audit trail and stub once the server keeps no history of it; None for no such case."""
    done = case_retention.erasure_of(engine, case_id)
    if done is not None:
        return done.program
    case = case_retention.case_row(engine, case_id)
    return None if case is None else case.program


# ---- the namespace's retention ------------------------------------------------------------


async def ensure_purge_schedule(client: Client, task_queue: str) -> ScheduleHandle:
    """The daily retention purge's Schedule, made unless it exists (any number of workers call this)."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            RetentionPurgeWorkflow.run, PurgeRequest(), id=PURGE_WORKFLOW_ID, task_queue=task_queue
        ),
        spec=ScheduleSpec(calendars=[PURGE_AT], time_zone_name=PURGE_ZONE),
        # A purge still running (a large backlog) is not joined by a second one; a day the
        # server was down is caught up once.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
        state=ScheduleState(note="Erases closed cases past their program's retention (docs/retention.md)"),
    )
    # One made by another worker, or changed by an operator since, is left as it is.
    with contextlib.suppress(ScheduleAlreadyRunningError):
        await client.create_schedule(PURGE_SCHEDULE_ID, schedule, rpc_timeout=RPC_TIMEOUT)
    return client.get_schedule_handle(PURGE_SCHEDULE_ID)


async def set_namespace_retention(client: Client, retention: timedelta = NAMESPACE_RETENTION) -> None:
    """How long the server keeps a closed workflow's history in the client's namespace."""
    ttl = Duration()
    ttl.FromTimedelta(retention)
    config = NamespaceConfig(workflow_execution_retention_ttl=ttl)
    await client.workflow_service.update_namespace(
        UpdateNamespaceRequest(namespace=client.namespace, config=config), timeout=RPC_TIMEOUT
    )
