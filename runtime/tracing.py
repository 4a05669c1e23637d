"""The request id of the API call that caused a piece of work, carried in Temporal headers.

`RequestIdClientInterceptor` (registered by `runtime.temporal.connect`) copies
`runtime.context.request_id` into the `smo-request-id` header of every workflow start,
update, signal and query. `RequestIdWorkerInterceptor` (registered by `worker.build_worker`)
restores it: inside the workflow while it handles that call, on every activity the workflow
starts from there, and inside the activity. The log pipeline (`runtime.logging`) reads the
context variable, so workflow and activity log lines carry the request id.

An activity scheduled by the workflow's main loop (not inside an update or signal handler)
carries the latest request id the case received: that is the call the loop reacts to.
The id is an opaque token (never PHI); anything that does not look like one is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Interceptor as ClientInterceptor,
)
from temporalio.client import (
    OutboundInterceptor,
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    StartWorkflowUpdateWithStartInput,
    WorkflowHandle,
    WorkflowUpdateHandle,
)
from temporalio.converter import PayloadConverter
from temporalio.worker import (
    ActivityInboundInterceptor,
    ContinueAsNewInput,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    StartActivityInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from runtime.context import request_id

HEADER = "smo-request-id"
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,80}")
# Headers are not passed through the payload codec: the id travels as plain JSON.
_converter = PayloadConverter.default


class _Latest:
    """The latest request id a workflow run received (its start, an update, a signal)."""

    value: str | None = None


# Set in a workflow's main task only: that loop acts on whatever call came in last.
_latest: ContextVar[_Latest | None] = ContextVar("smo_latest_request_id", default=None)


def current_request_id() -> str | None:
    """The request id the running code acts for: its own call's, else the run's latest."""
    rid = request_id.get()
    if rid is not None:
        return rid
    latest = _latest.get()
    return latest.value if latest is not None else None


def with_request_id(headers: Mapping[str, Payload], rid: str | None) -> Mapping[str, Payload]:
    """`headers` plus the request id, when there is a well-formed one."""
    if rid is None or not _VALID.fullmatch(rid):
        return headers
    return {**headers, HEADER: _converter.to_payloads([rid])[0]}


def request_id_from(headers: Mapping[str, Payload]) -> str | None:
    """The request id in `headers`, or None when absent or malformed."""
    payload = headers.get(HEADER)
    if payload is None:
        return None
    try:
        (value,) = _converter.from_payloads([payload], [str])
    except Exception:
        return None
    return value if isinstance(value, str) and _VALID.fullmatch(value) else None


# ---- client side ----------------------------------------------------------------------------


class _ClientOutbound(OutboundInterceptor):
    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        input.headers = with_request_id(input.headers, request_id.get())
        return await self.next.start_workflow(input)

    async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> WorkflowUpdateHandle[Any]:
        input.headers = with_request_id(input.headers, request_id.get())
        return await self.next.start_workflow_update(input)

    async def start_update_with_start_workflow(
        self, input: StartWorkflowUpdateWithStartInput
    ) -> WorkflowUpdateHandle[Any]:
        rid = request_id.get()
        input.start_workflow_input.headers = with_request_id(input.start_workflow_input.headers, rid)
        input.update_workflow_input.headers = with_request_id(input.update_workflow_input.headers, rid)
        return await self.next.start_update_with_start_workflow(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        input.headers = with_request_id(input.headers, request_id.get())
        await self.next.signal_workflow(input)

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        input.headers = with_request_id(input.headers, request_id.get())
        return await self.next.query_workflow(input)


class RequestIdClientInterceptor(ClientInterceptor):
    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _ClientOutbound(next)


# ---- worker side ----------------------------------------------------------------------------


class _ActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        token = request_id.set(request_id_from(input.headers))
        try:
            return await self.next.execute_activity(input)
        finally:
            request_id.reset(token)


class _WorkflowOutbound(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        input.headers = with_request_id(input.headers, current_request_id())
        return self.next.start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> workflow.ActivityHandle[Any]:
        input.headers = with_request_id(input.headers, current_request_id())
        return self.next.start_local_activity(input)

    def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
        input.headers = with_request_id(input.headers, current_request_id())
        self.next.continue_as_new(input)


class _WorkflowInbound(WorkflowInboundInterceptor):
    """One per workflow run. The run's main task and each handler run in their own asyncio
    task, so what is set here stays with that task and what it starts: a handler acts for
    its own call, the main loop for the latest one (history holds every header, so replay
    sees the same ids in the same order)."""

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        self.latest = _Latest()
        super().init(_WorkflowOutbound(outbound))

    def _received(self, headers: Mapping[str, Payload]) -> str | None:
        rid = request_id_from(headers)
        if rid is not None:
            self.latest.value = rid
        return rid

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        self._received(input.headers)
        _latest.set(self.latest)
        return await self.next.execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        request_id.set(self._received(input.headers))
        await self.next.handle_signal(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        request_id.set(self._received(input.headers))
        return await self.next.handle_update_handler(input)


class RequestIdWorkerInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _WorkflowInbound
