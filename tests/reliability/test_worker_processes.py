"""`SMO_WORKER_PROCESSES=N python worker.py` (what `smo worker --processes N` runs): N worker
processes, each with its own client, serve the queue, and SIGTERM stops them all cleanly."""

from __future__ import annotations

import asyncio
import os
import signal

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from models.case import Stage
from tests.reliability.harness import Live, WorkerProcess


async def pollers(client: Client, task_queue: str) -> set[str]:
    resp = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return {p.identity for p in resp.pollers}


async def test_two_worker_processes_poll_with_their_own_clients_serve_a_case_and_stop_on_sigterm(
    live: Live,
) -> None:
    single = live.worker.identity
    live.worker.kill()
    workers = WorkerProcess(dict(live.worker.env, SMO_WORKER_PROCESSES="2"), live.worker.log_file)
    workers.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        task_queue = live.settings.task_queue
        while len(await pollers(live.client, task_queue) - {single}) < 2:
            assert workers.running, workers.log_tail()
            assert loop.time() < deadline, f"two worker processes are not polling:\n{workers.log_tail()}"
            await asyncio.sleep(0.2)
        # Neither poller is the supervisor: each worker process has its own client.
        assert workers.identity not in await pollers(live.client, task_queue)

        status = await live.case(1).open()
        assert status.stage is Stage.GATHERING_RECORDS

        assert workers.process is not None
        os.killpg(workers.process.pid, signal.SIGTERM)
        code = await asyncio.to_thread(workers.process.wait, 60)
        assert code == 0, workers.log_tail()
    finally:
        workers.kill()
