"""The recorded history of a case with the opinion in two forms (tests/record_histories.py).

Two questions of the member's, a report with the summary, both answers and the outcome, a
follow-up asked and answered, the member's survey sent a day later and answered, the close:
the replay tests keep these commands (local activities, timers, notices) deterministic.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from models.case import Close, RecordType, Stage, SubmitReport
from models.follow_up import AnswerFollowUp, AskFollowUp, FollowUpText
from models.opinion import Diagnosis, Opinion, OpinionSheet, Outcome, Treatment
from models.survey import AnswerSurvey
from tests import scenario
from workflows.smo_case import SmoCaseWorkflow

if TYPE_CHECKING:
    from tests.record_histories import Stack


async def prudential_opinion_and_follow_up(s: Stack) -> list[str]:
    from tests.record_histories import _open

    name = "prudential-opinion-and-follow-up"
    handle = await _open(s, name, questions=2, survey=True)
    case_id = scenario.case_of(handle)
    review = await scenario.to_review(s.env, handle, s.services, "prudential-kh")
    assert review.specialist_id

    def stored(data: bytes) -> str:
        return s.services.store.put_bytes(data, case_id).doc_id

    sheet = OpinionSheet(summary="The diagnosis stands.", answers=["Not now.", "Yes."])
    outcome = Outcome(diagnosis=Diagnosis.CONFIRMED, treatment=Treatment.CHANGED, surgery_avoided=True)
    opinion = Opinion(sheet_doc_id=stored(sheet.model_dump_json().encode()), answers=2, outcome=outcome)
    report = scenario.upload(s.services, b"full report", RecordType.SMO_REPORT, case_id)
    arg = SubmitReport(document=report, specialist_id=review.specialist_id, by="c", opinion=opinion)
    await handle.execute_update(SmoCaseWorkflow.submit_report, arg)
    await scenario.until(s.env, handle, Stage.REPORT_DELIVERED)
    question = stored(FollowUpText(text="Can I travel?").model_dump_json().encode())
    await handle.execute_update(SmoCaseWorkflow.ask_follow_up, AskFollowUp(question_doc_id=question, by="c"))
    answer = stored(FollowUpText(text="Yes.").model_dump_json().encode())
    await handle.execute_update(
        SmoCaseWorkflow.answer_follow_up, AnswerFollowUp(n=1, answer_doc_id=answer, by=review.specialist_id)
    )
    await s.env.sleep(timedelta(days=1, hours=1))  # the survey goes out
    await scenario.when(handle, lambda st: bool(st.survey and st.survey.sent_at), "the survey")
    await handle.execute_update(
        SmoCaseWorkflow.answer_survey, AnswerSurvey(satisfaction=5, will_follow=True, by="m")
    )
    await handle.execute_update(SmoCaseWorkflow.close, Close(by="c"))
    assert (await handle.result()).stage is Stage.CLOSED
    return [name]
