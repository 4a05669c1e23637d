"""A case's updates as the edges send them: one update, audited under who asked, with its outcome.

The validators answer before the update is accepted, so their refusals come back at once,
in their own words. The update's handler may then wait on mail or billing; the caller
waits for it only `wait` and otherwise hears None: accepted, still running, the case
finishes it. Either way the attempt is on the audit trail.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError, WorkflowUpdateStage

from models.case import UpdateAck
from runtime.case_views import CaseViews
from runtime.db import audit_off_loop
from service.cases import RPC_TIMEOUT, handle_for
from service.errors import explain
from service.views import wait_for_version


async def send_update(
    client: Client,
    engine: Engine,
    *,
    case_id: str,
    actor: str,
    action: str,
    update: Any,
    arg: Any,
    wait: timedelta = RPC_TIMEOUT,
) -> UpdateAck | None:
    """Send `update(arg)` to the case as `actor`; the audit trail names it `action`."""

    def record(outcome: str, detail: str) -> Awaitable[None]:
        return audit_off_loop(
            engine, actor=actor, action=action, outcome=outcome, case_id=case_id, detail=detail
        )

    try:
        running = await handle_for(client, case_id).start_update(
            update, arg, wait_for_stage=WorkflowUpdateStage.ACCEPTED, rpc_timeout=RPC_TIMEOUT
        )
        try:
            ack: UpdateAck = await running.result(rpc_timeout=wait)
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            await record("accepted", "in progress")
            return None
    except Exception as exc:
        await record("refused", explain(exc) or type(exc).__name__)
        raise
    await record("accepted", ack.detail)
    # What the caller reads next shows this update (the read model has its version).
    await wait_for_version(CaseViews(engine), case_id, ack.version)
    return ack
