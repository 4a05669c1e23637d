"""Follow-up questions after the report, on the time-skipping server: two asked within the
window, the first answered in time, the second late (the desk and a supervisor are told), a
third refused (the program answers two), and the case closes only once both are answered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models.case import Close, Stage
from models.follow_up import AnswerFollowUp, AskFollowUp, FollowUpText
from runtime.outbox import read_outbox
from tests import scenario
from worker import Services
from workflows.smo_case import SmoCaseWorkflow


def sheet(services: Services, case_id: str, text: str) -> str:
    return services.store.put_bytes(FollowUpText(text=text).model_dump_json().encode(), case_id).doc_id


async def test_two_follow_ups_are_answered_the_second_late_and_a_third_is_refused(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    case_id = "KH-FOLLOW-1"
    handle = await scenario.start(ts_env.client, services.settings, scenario.case_input(services, case_id))
    review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    assert review.specialist_id
    with pytest.raises(WorkflowUpdateFailedError) as early:
        await handle.execute_update(
            SmoCaseWorkflow.ask_follow_up,
            AskFollowUp(question_doc_id=sheet(services, case_id, "?"), by="desk"),
        )
    assert "needs REPORT_DELIVERED or CONSULT" in str(early.value.cause)
    await scenario.submit_report(handle, services, review.specialist_id)
    await scenario.until(ts_env, handle, Stage.REPORT_DELIVERED)

    for n, question in ((1, "Can I wait a month?"), (2, "Is the new drug covered?")):
        ask = AskFollowUp(question_doc_id=sheet(services, case_id, question), by=f"member:{case_id}")
        ack = await handle.execute_update(SmoCaseWorkflow.ask_follow_up, ask)
        assert ack.detail == f"follow-up {n}"
    with pytest.raises(WorkflowUpdateFailedError) as third:
        ask = AskFollowUp(question_doc_id=sheet(services, case_id, "One more?"), by="desk")
        await handle.execute_update(SmoCaseWorkflow.ask_follow_up, ask)
    assert "answers 2 follow-up question(s)" in str(third.value.cause)

    answer = AnswerFollowUp(n=1, answer_doc_id=sheet(services, case_id, "Yes."), by=review.specialist_id)
    assert (
        await handle.execute_update(SmoCaseWorkflow.answer_follow_up, answer)
    ).detail == "follow-up 1 answered"
    # A coordinator's close waits for the second answer.
    await handle.execute_update(SmoCaseWorkflow.close, Close(by="desk"))
    await ts_env.sleep(timedelta(days=5))  # past the second question's 2 working days
    late = await scenario.when(handle, lambda s: s.follow_ups[1].breached, "the breach")
    assert late.stage is not Stage.CLOSED and late.attention == "follow-up 2 unanswered past its deadline"
    answer = AnswerFollowUp(n=2, answer_doc_id=sheet(services, case_id, "Ask your doctor."), by="desk")
    assert (await handle.execute_update(SmoCaseWorkflow.answer_follow_up, answer)).detail.endswith("late")
    assert (await handle.result()).stage is Stage.CLOSED
    subjects = [
        str(m["Subject"]) for m in read_outbox(services.settings.outbox_dir) if m["X-SMO-Case-Id"] == case_id
    ]
    assert (
        sum("Follow-up question 2" in s and "past its deadline" in s for s in subjects) == 2
    )  # desk, supervisor
    assert sum("follow-up question is answered" in s for s in subjects) == 2
