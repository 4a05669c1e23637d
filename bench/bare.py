"""The bare same-shape workflow for bench/lifecycle.py, and its worker process.

`BareCase` replays the shape of a real case's history with no business logic: the same
count of activities, local activities, search-attribute upserts, updates and timers, in the
same segments (what the case did before its first update, and after each update), with
payloads of the case's mean size. It runs on the project's converter and codec (payloads
encrypted the same way), the same workflow runner and the same sticky-cache size.

    python bench/bare.py   # a worker for BareCase on $SMO_TASK_QUEUE (bench/lifecycle.py starts it)
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != _HERE), str(_HERE)]

import asyncio  # noqa: E402
import signal  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import timedelta  # noqa: E402

from pydantic import BaseModel  # noqa: E402
from temporalio import activity, workflow  # noqa: E402
from temporalio.common import RetryPolicy  # noqa: E402

from models import search  # noqa: E402
from models.settings import Settings  # noqa: E402


class Payload(BaseModel):
    data: str


class Shape(BaseModel):
    """A case's commands, by segment: segment 0 runs first, segment k in the k-th update."""

    segments: list[str]  # "A" activity, "L" local activity, "S" search-attribute upsert
    timers: int  # waits for an update that carry a timeout (a timer started, then cancelled)
    payload_bytes: int


TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


@activity.defn(name="bare_noop")
async def bare_noop(payload: Payload) -> Payload:
    return payload


@workflow.defn(name="BareCase")
class BareCase:
    def __init__(self) -> None:
        self._shape: Shape | None = None
        self._received = 0
        self._handled = 0

    @workflow.run
    async def run(self, shape: Shape) -> int:
        self._shape = shape
        await self._do(shape.segments[0])
        timers = shape.timers
        for k in range(1, len(shape.segments)):
            if timers > 0:
                timers -= 1
                await workflow.wait_condition(self._handled_up_to(k), timeout=timedelta(days=30))
            else:
                await workflow.wait_condition(self._handled_up_to(k))
        return self._handled

    def _handled_up_to(self, k: int) -> Callable[[], bool]:
        return lambda: self._handled >= k

    async def _do(self, segment: str) -> None:
        assert self._shape is not None
        payload = Payload(data="x" * self._shape.payload_bytes)
        for op in segment:
            if op == "A":
                await workflow.execute_activity(
                    bare_noop, payload, start_to_close_timeout=TIMEOUT, retry_policy=RETRY
                )
            elif op == "L":
                await workflow.execute_local_activity(
                    bare_noop, payload, start_to_close_timeout=TIMEOUT, retry_policy=RETRY
                )
            elif op == "S":
                workflow.upsert_search_attributes([search.STAGE.value_set("BARE")])

    @workflow.update
    async def step(self, payload: Payload) -> Payload:
        await workflow.wait_condition(lambda: self._shape is not None)
        assert self._shape is not None
        self._received += 1
        await self._do(self._shape.segments[self._received])
        self._handled += 1
        return payload

    @workflow.query
    def status(self) -> Payload:
        return Payload(data=f"{self._handled}")


async def serve(settings: Settings) -> None:
    from temporalio.worker import Worker

    from runtime.temporal import connect
    from worker import MAX_CONCURRENT_TASKS, sticky_cache_size, workflow_runner

    client = await connect(settings)
    cached = sticky_cache_size(settings.worker_memory_mb, sandbox=settings.worker_sandbox)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[BareCase],
        activities=[bare_noop],
        workflow_runner=workflow_runner(settings.worker_sandbox),
        max_cached_workflows=cached,
        max_concurrent_workflow_tasks=min(MAX_CONCURRENT_TASKS, cached),
    ):
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve(Settings()))
