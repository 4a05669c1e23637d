"""The API's handlers for a case's life after it closes: legal hold, erasure, and the status that shows both.

Holds and erasures are the supervisor's. An erasure answers 202 as soon as its workflow has
started; `GET …/erasure` is 404 until the stub exists (its message says whether the erasure is
still running), then the stub. An erasure that failed is a 409 saying why.
"""

from __future__ import annotations

import service
from models.api import ReasonBody
from models.case import CaseStatus
from models.retention import CaseView, ErasureResult, ErasureStarted, HoldState
from service import retention
from web.api.call import Call
from web.errors import WebError


async def with_retention(call: Call, status: CaseStatus) -> CaseView:
    """The case's status with its legal hold and its erasure, if it has them."""
    view = call.case.view if call.case is not None else None
    if view is not None and not (view.held or view.erased):
        hold, erasure = None, None  # the view's row said so, in the same read
    else:
        hold, erasure = await retention.retention_of(call.backends.engine, call.case_id)
    # Both parts are validated models already: built without validating the status a second time.
    return CaseView.model_construct(
        _fields_set=status.model_fields_set | {"hold", "erasure"},
        **dict(status),
        hold=hold,
        erasure=erasure,
    )


async def place_hold(call: Call) -> HoldState:
    body: ReasonBody = call.body
    return await retention.place_hold(
        call.backends.engine, case_id=call.case_id, reason=body.reason, by=call.who.name
    )


async def release_hold(call: Call) -> HoldState:
    return await retention.release_hold(call.backends.engine, case_id=call.case_id, by=call.who.name)


async def erase_case(call: Call) -> ErasureStarted:
    body: ReasonBody = call.body
    backends = call.backends
    return await retention.start_erasure(
        await backends.client(),
        backends.engine,
        backends.store,
        task_queue=backends.settings.task_queue,
        case_id=call.case_id,
        reason=body.reason,
        by=call.who.name,
        # Whether it still runs, from the case's workflow itself: nothing is erased on a stale view.
        case=await service.describe(await backends.client(), call.case_id),
    )


async def case_erasure(call: Call) -> ErasureResult:
    state = await retention.erasure_state(await call.backends.client(), call.backends.engine, call.case_id)
    if state == "pending":
        raise WebError(404, "the case's erasure has not finished yet; ask again")
    if state == "none":
        raise WebError(404, "the case was not erased")
    return state
