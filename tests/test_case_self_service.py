"""A request from the public form, on the time-skipping test server: confirmed first, or ended.

Until the member follows the emailed link the case sends nothing but the fixed confirmation;
unconfirmed, it ends within a day and leaves nothing running and none of its documents;
refused, it ends with its answer instead of waiting for an override.
"""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models.case import CONFIRMATION_WINDOW, Cancel, ConfirmRequest, RecordType, Stage
from models.portal import SendPortalLink
from runtime.outbox import read_outbox
from tests import scenario
from tests.polling import eventually
from worker import Services
from workflows.smo_case import SmoCaseWorkflow

CONFIRM_SUBJECT = "Please confirm your Second Medical Opinion request"


def subjects(services: Services, case_id: str) -> list[str]:
    return [
        str(m["Subject"]) for m in read_outbox(services.settings.outbox_dir) if m["X-SMO-Case-Id"] == case_id
    ]


async def requested(
    env: WorkflowEnvironment, services: Services, case_id: str, policy: str = "AA-DEMO-0001"
) -> tuple[scenario.Handle, list[Any]]:
    """A case as the form opens it, with one document from the form."""
    content = f"{case_id}: discharge summary".encode()
    form_record = scenario.upload(services, content, RecordType.DISCHARGE_SUMMARY, case_id)
    patient = scenario.intake("assist-america", policy_number=policy)
    inp = scenario.case_input(
        services, case_id, "assist-america", patient=patient, self_service=True, form_records=[form_record]
    )
    return await scenario.start(env.client, services.settings, inp), [form_record]


async def test_an_unconfirmed_request_ends_within_a_day_sends_nothing_more_and_keeps_no_document(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle, (record,) = await requested(ts_env, services, "SS-UNCONFIRMED")
    result = await handle.result()  # the server skips time while nothing else happens
    assert result.stage is Stage.CANCELLED
    desc = await handle.describe()
    assert desc.status == WorkflowExecutionStatus.COMPLETED
    assert desc.close_time is not None
    assert desc.close_time - desc.start_time <= CONFIRMATION_WINDOW + CONFIRMATION_WINDOW / 24
    assert subjects(services, "SS-UNCONFIRMED") == [CONFIRM_SUBJECT]
    assert not services.store.exists("SS-UNCONFIRMED", record.doc_id)
    final = await scenario.status(handle)
    assert final.timeline[-1].detail == "the request was not confirmed within 24 hours"


async def test_a_confirmed_request_takes_the_form_s_documents_and_goes_on_as_a_self_service_case(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle, _ = await requested(ts_env, services, "SS-CONFIRMED")
    await scenario.noted(handle, "opened")
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(SmoCaseWorkflow.send_portal_link, SendPortalLink(by="desk"))
    assert "not confirmed" in str(refused.value.cause)
    await handle.execute_update(SmoCaseWorkflow.confirm_request, ConfirmRequest(by="member:SS-CONFIRMED"))
    current = await scenario.until(ts_env, handle, Stage.GATHERING_RECORDS)
    assert current.records.documents == 1  # the form's document, registered once confirmed
    assert any(t.event == "records added" for t in current.timeline)

    async def sent() -> list[str]:
        return subjects(services, "SS-CONFIRMED")

    opened = "Your Second Medical Opinion request SS-CONFIRMED"
    assert await eventually(sent, lambda s: opened in s) == [CONFIRM_SUBJECT, opened]
    await handle.execute_update(SmoCaseWorkflow.cancel, Cancel(reason="test over", by="supervisor"))
    await handle.result()


async def test_a_desk_case_cannot_be_confirmed_and_a_cancelled_request_sends_nothing(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    desk = await scenario.start(
        ts_env.client, services.settings, scenario.case_input(services, "SS-DESK", "assist-america")
    )
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await desk.execute_update(SmoCaseWorkflow.confirm_request, ConfirmRequest(by="member:SS-DESK"))
    assert "nothing to confirm" in str(refused.value.cause)
    await desk.execute_update(SmoCaseWorkflow.cancel, Cancel(reason="test over", by="supervisor"))
    await desk.result()

    handle, _ = await requested(ts_env, services, "SS-CANCELLED")
    await scenario.noted(handle, "opened")
    await handle.execute_update(SmoCaseWorkflow.cancel, Cancel(reason="not asked for", by="supervisor"))
    assert (await handle.result()).stage is Stage.CANCELLED
    assert subjects(services, "SS-CANCELLED") == [CONFIRM_SUBJECT]


async def test_an_ineligible_request_ends_once_the_answer_is_sent(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle, (record,) = await requested(ts_env, services, "SS-REFUSED", policy="AA-NOPE-9999")
    await scenario.noted(handle, "opened")
    await handle.execute_update(SmoCaseWorkflow.confirm_request, ConfirmRequest(by="member:SS-REFUSED"))
    result = await handle.result()
    assert result.stage is Stage.INELIGIBLE
    desc = await handle.describe()
    assert desc.close_time is not None
    # No override window (14 days for a desk case): it ended with the answer.
    assert desc.close_time - desc.start_time < CONFIRMATION_WINDOW
    first, *answers = subjects(services, "SS-REFUSED")  # the member's answer, and the desk's copy
    assert first == CONFIRM_SUBJECT
    assert set(answers) == {"Second Medical Opinion request SS-REFUSED: not eligible"}
    assert not services.store.exists("SS-REFUSED", record.doc_id)
