"""Production logs: one JSON object per line, and the request id of the API call that caused
the work on the workflow's and the activities' lines (carried in Temporal headers)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import PayloadConverter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models.case import AddRecords, CompleteRecords, Stage
from runtime.context import request_id
from runtime.logging import configure_logging
from runtime.temporal import converter_for
from runtime.tracing import HEADER, RequestIdClientInterceptor, request_id_from, with_request_id
from tests import scenario
from worker import Services
from workflows.smo_case import SmoCaseWorkflow


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(p, dict) for p in parsed)
    return parsed


async def logged_sent(
    capfd: pytest.CaptureFixture[str], notice_id: str, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Every log line so far, once the activity's "notice sent" line for the notice is among them.

    The line is written after the SMTP server's 250 and the delivery's record, so neither the
    outbox nor the case DB says that it is there yet: the captured output itself does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    text = ""
    while True:
        text += capfd.readouterr().err
        complete = text[: text.rfind("\n") + 1]  # a line being written is read next time
        lines = json_lines(complete)
        if any(line.get("event") == "notice sent" and line.get("notice_id") == notice_id for line in lines):
            return lines
        if loop.time() > deadline:
            raise AssertionError(f"no 'notice sent' line for {notice_id}")
        await asyncio.sleep(0.05)


def traced_client(env: WorkflowEnvironment, services: Services) -> Client:
    """What `runtime.temporal.connect` builds, on the test server's connection."""
    return Client(
        env.client.service_client,
        namespace=env.client.namespace,
        data_converter=converter_for(services.settings),
        interceptors=[RequestIdClientInterceptor()],
    )


async def test_the_activity_log_line_carries_the_request_id_of_the_update_that_caused_it(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services, capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging("json", "INFO")
    client = traced_client(ts_env, services)
    inp = scenario.case_input(services, "KH-LOG-1")

    request_id.set("req-open-1")
    handle = await scenario.start(client, services.settings, inp)
    await scenario.until(ts_env, handle, Stage.GATHERING_RECORDS)

    request_id.set("req-records-2")
    records = scenario.required_records(services, "prudential-kh", inp.case_id)
    await handle.execute_update(SmoCaseWorkflow.add_record, AddRecords(documents=records, by="coordinator"))
    await scenario.attest_consent(handle, services)
    await handle.execute_update(SmoCaseWorkflow.mark_records_complete, CompleteRecords(by="coordinator"))
    await scenario.until(ts_env, handle, Stage.UNDER_REVIEW)
    request_id.set(None)
    lines = await logged_sent(capfd, "KH-LOG-1:records_to_specialist:1")
    sent = {line["notice_id"]: line for line in lines if line.get("event") == "notice sent"}
    opened = sent["KH-LOG-1:case_opened:1"]
    assert opened["request_id"] == "req-open-1"
    assert (opened["case_id"], opened["workflow_id"], opened["activity"]) == (
        "KH-LOG-1",
        "smo-KH-LOG-1",
        "send_notice",
    )
    # Sent by the workflow after the records were marked complete: that update's id.
    assert sent["KH-LOG-1:records_to_specialist:1"]["request_id"] == "req-records-2"

    # The workflow's own lines (workflow.logger) carry it too.
    entered = {
        line["event"].removeprefix("case entered "): line
        for line in lines
        if str(line.get("event", "")).startswith("case entered")
    }
    assert entered["GATHERING_RECORDS"]["request_id"] == "req-open-1"
    assert entered["UNDER_REVIEW"]["request_id"] == "req-records-2"
    assert entered["UNDER_REVIEW"]["workflow_id"] == "smo-KH-LOG-1"
    assert entered["UNDER_REVIEW"]["case_id"] == "KH-LOG-1"


def test_a_request_id_round_trips_through_the_header() -> None:
    headers = with_request_id({}, "7f3c9a0e-api-42")
    assert request_id_from(headers) == "7f3c9a0e-api-42"
    assert with_request_id({}, None) == {}


@pytest.mark.parametrize(
    "forged",
    ["Sokha Chan", "line\nbreak", "x" * 81, "", "<script>", "id;DROP TABLE cases"],
)
def test_a_forged_or_malformed_request_id_is_neither_sent_nor_restored(forged: str) -> None:
    assert with_request_id({}, forged) == {}
    raw = {HEADER: PayloadConverter.default.to_payloads([forged])[0]}
    assert request_id_from(raw) is None


def test_a_header_that_is_not_a_string_is_ignored() -> None:
    assert request_id_from({HEADER: PayloadConverter.default.to_payloads([{"id": 1}])[0]}) is None
    assert request_id_from({HEADER: Payload(metadata={"encoding": b"binary/unknown"}, data=b"\x00")}) is None
