"""Production logs are JSON, one object per line, including what the Temporal SDK's core says."""

from __future__ import annotations

import asyncio
import json

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from runtime.logging import configure_logging
from runtime.temporal import converter_for, sdk_runtime
from worker import Services, build_worker


async def test_the_sdk_cores_own_warnings_come_out_as_json_lines(
    ts_env: WorkflowEnvironment, services: Services, capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging("json", "INFO")
    # The runtime `connect` uses: the core's lines are forwarded to Python logging.
    client = await Client.connect(
        ts_env.client.service_client.config.target_host,
        namespace=ts_env.client.namespace,
        data_converter=converter_for(services.settings),
        runtime=sdk_runtime(),
    )
    captured = ""
    async with build_worker(client, services):
        # The test server lacks a capability the core warns about when a worker starts;
        # the core hands its lines over in batches, so wait for it.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while "temporalio.core" not in captured and loop.time() < deadline:
            await asyncio.sleep(0.2)
            captured += capfd.readouterr().err
    lines = [json.loads(line) for line in captured.splitlines() if line.strip()]
    core = [line for line in lines if str(line.get("logger", "")).startswith("temporalio.core")]
    assert core, captured
    assert core[0]["level"] == "warning" and "heartbeat" in core[0]["event"]
