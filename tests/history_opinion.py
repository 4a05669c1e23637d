"""The recorded histories of cases with the opinion in two forms (tests/record_histories.py).

Two questions of the member's, a report with the summary, both answers and the outcome, a
follow-up asked and answered, the member's survey sent a day later and answered, the close:
the replay tests keep these commands (local activities, timers, notices) deterministic.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from models.case import CaseStatus, Close, RecordType, Stage, SubmitReport
from models.doctor import AskDoctorCall, ShareWithDoctor, WithdrawDoctor
from models.follow_up import AnswerFollowUp, AskFollowUp, FollowUpText
from models.opinion import Diagnosis, Opinion, OpinionSheet, Outcome, TranslateOpinion, Treatment
from models.records import ProviderSheet
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


def _reminded(status: CaseStatus) -> bool:
    task = status.opinion.translation if status.opinion is not None else None
    return task is not None and task.reminded


async def prudential_opinion_in_khmer_and_doctor(s: Stack) -> list[str]:
    """A member who reads Khmer names their treating doctor before the report; the report's
    summary is translated (late: reminded, then the desk told); a follow-up is answered (an SLA
    round of its own kind); the doctor asks for a call; the member withdraws the consent."""
    from tests.record_histories import _open

    name = "prudential-opinion-in-khmer-and-doctor"
    patient = scenario.intake(language="km", questions=["Can I keep working?"])
    handle = await _open(s, name, patient=patient, questions=1)
    case_id = scenario.case_of(handle)
    review = await scenario.to_review(s.env, handle, s.services, "prudential-kh")
    assert review.specialist_id

    def stored(data: bytes) -> str:
        return s.services.store.put_bytes(data, case_id).doc_id

    doctor = ProviderSheet(name="Dr Sok Dara, Calmette Hospital", email="dr.sok@example.com")
    share = ShareWithDoctor(sheet_doc_id=stored(doctor.model_dump_json().encode()), by="m")
    await handle.execute_update(SmoCaseWorkflow.share_with_doctor, share)
    english = OpinionSheet(summary="A gentler treatment.", answers=["Yes, part time."])
    opinion = Opinion(sheet_doc_id=stored(english.model_dump_json().encode()), answers=1, translate_to="km")
    report = scenario.upload(s.services, b"full report", RecordType.SMO_REPORT, case_id)
    arg = SubmitReport(document=report, specialist_id=review.specialist_id, by="c", opinion=opinion)
    await handle.execute_update(SmoCaseWorkflow.submit_report, arg)
    await scenario.until(s.env, handle, Stage.REPORT_DELIVERED)
    await s.env.sleep(timedelta(days=2))  # past the translation's deadline: the translator reminded
    await scenario.when(
        handle,
        lambda st: bool(st.opinion and st.opinion.translation and st.opinion.translation.reminded),
        "reminded",
    )
    await s.env.sleep(timedelta(days=4))  # a working day more: the desk told
    await scenario.when(handle, lambda st: st.attention is not None, "the desk told")
    khmer = OpinionSheet(summary="ការព្យាបាលស្រាលជាងនេះ។", answers=["បាទ ក្រៅម៉ោង។"])
    translated = TranslateOpinion(sheet_doc_id=stored(khmer.model_dump_json().encode()), by="translator")
    await handle.execute_update(SmoCaseWorkflow.translate_opinion, translated)
    question = stored(FollowUpText(text="Can I travel?").model_dump_json().encode())
    await handle.execute_update(SmoCaseWorkflow.ask_follow_up, AskFollowUp(question_doc_id=question, by="m"))
    answer = stored(FollowUpText(text="Yes.").model_dump_json().encode())
    await handle.execute_update(
        SmoCaseWorkflow.answer_follow_up, AnswerFollowUp(n=1, answer_doc_id=answer, by=review.specialist_id)
    )
    await handle.execute_update(SmoCaseWorkflow.ask_doctor_call, AskDoctorCall(by="doctor"))
    await handle.execute_update(SmoCaseWorkflow.withdraw_doctor, WithdrawDoctor(by="m"))
    await handle.execute_update(SmoCaseWorkflow.close, Close(by="c"))
    assert (await handle.result()).stage is Stage.CLOSED
    return [name]
