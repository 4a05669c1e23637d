"""The member's questions answered, the whole path on the time-skipping server: a Khmer-reading
member asks two questions at intake; the report carries a summary, an answer to each and the
outcome; the Khmer translation follows; two follow-up questions are answered, the second late
(the desk and a supervisor are told); the survey is answered; and the month's outcomes report
counts the case with its treatment changed and the member's satisfaction."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from calendars import CalendarService
from models.case import Close, RecordType, Stage, SubmitReport
from models.follow_up import AnswerFollowUp, AskFollowUp
from models.opinion import Diagnosis, Opinion, Outcome, TranslateOpinion, Treatment
from models.report import SlaReportRequest
from models.survey import AnswerSurvey
from reports.monthly import month_reports
from reports.outcomes import ICT
from runtime.outbox import read_outbox
from tests import scenario
from tests.test_follow_ups import sheet as text_sheet
from tests.test_opinion_translation import sheet as opinion_sheet
from tests.test_records_gathering import mail_to, text
from worker import Services
from workflows.smo_case import SmoCaseWorkflow

CASE = "KH-WHOLE-1"
MEMBER = "sokha.chan@example.com"


async def test_questions_report_translation_follow_ups_survey_and_outcomes(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    questions = ["Is surgery needed now?", "Can I keep working?"]
    patient = scenario.intake(language="km", questions=questions)
    inp = scenario.case_input(services, CASE, patient=patient, questions=2, survey=True)
    handle = await scenario.start(ts_env.client, services.settings, inp)
    review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    assert review.questions == 2 and review.specialist_id
    # The specialist's records email lists the member's questions, to answer in the report.
    await scenario.settled(handle)
    (records,) = [
        m
        for m in read_outbox(services.settings.outbox_dir)
        if m["X-SMO-Case-Id"] == CASE and "complete records" in str(m["Subject"])
    ]
    assert "1. Is surgery needed now?" in text(records) and "2. Can I keep working?" in text(records)

    # The report: a summary, an answer to each question, the outcome; the member reads Khmer.
    english = opinion_sheet(services, CASE, "A gentler treatment suits you.", ["Not now.", "Yes, part time."])
    outcome = Outcome(diagnosis=Diagnosis.CONFIRMED, treatment=Treatment.CHANGED, surgery_avoided=True)
    opinion = Opinion(sheet_doc_id=english, answers=2, outcome=outcome, translate_to="km")
    report = scenario.upload(services, b"full report", RecordType.SMO_REPORT, CASE)
    arg = SubmitReport(
        document=report, specialist_id=review.specialist_id, by=review.specialist_id, opinion=opinion
    )
    await handle.execute_update(SmoCaseWorkflow.submit_report, arg)
    delivered = await scenario.until(ts_env, handle, Stage.REPORT_DELIVERED)
    assert delivered.opinion is not None and delivered.opinion.translation is not None

    # The translator's Khmer, in time.
    khmer = opinion_sheet(services, CASE, "ការព្យាបាលស្រាលជាងនេះសមស្របនឹងអ្នក។", ["មិនមែនឥឡូវទេ។", "បាទ/ចាស។"])
    done = await handle.execute_update(
        SmoCaseWorkflow.translate_opinion, TranslateOpinion(sheet_doc_id=khmer, by="translator")
    )
    assert done.detail == "the translation is with the case"

    # Two follow-ups: the first answered at once, the second past its deadline.
    for n, question in ((1, "Can I travel?"), (2, "Is the new drug covered?")):
        ask = AskFollowUp(question_doc_id=text_sheet(services, CASE, question), by=f"member:{CASE}")
        assert (await handle.execute_update(SmoCaseWorkflow.ask_follow_up, ask)).detail == f"follow-up {n}"
    first = AnswerFollowUp(n=1, answer_doc_id=text_sheet(services, CASE, "Yes."), by=review.specialist_id)
    await handle.execute_update(SmoCaseWorkflow.answer_follow_up, first)
    await ts_env.sleep(timedelta(days=5))  # past the second question's two working days
    late = await scenario.when(handle, lambda s: s.follow_ups[1].breached, "the second one late")
    assert late.attention == "follow-up 2 unanswered past its deadline"
    second = AnswerFollowUp(n=2, answer_doc_id=text_sheet(services, CASE, "Ask your insurer."), by="desk")
    assert (await handle.execute_update(SmoCaseWorkflow.answer_follow_up, second)).detail.endswith("late")

    # The survey went out a day after the report; the member answers it.
    surveyed = await scenario.when(handle, lambda s: bool(s.survey and s.survey.sent_at), "the survey")
    answer = AnswerSurvey(satisfaction=5, will_follow=True, by=f"member:{CASE}")
    await handle.execute_update(SmoCaseWorkflow.answer_survey, answer)

    await handle.execute_update(SmoCaseWorkflow.close, Close(by="desk"))
    assert (await handle.result()).stage is Stage.CLOSED
    subjects = [str(m["Subject"]) for m in mail_to(services, CASE, services.settings.coordinator_email)]
    assert any("Follow-up question 2" in s and "past its deadline" in s for s in subjects)
    assert any("មានជាភាសារបស់អ្នកហើយ" in str(m["Subject"]) for m in mail_to(services, CASE, MEMBER))

    assert surveyed.opinion is not None and surveyed.opinion.at is not None
    month = surveyed.opinion.at.astimezone(ICT).strftime("%Y-%m")
    calendars = CalendarService(services.settings.holiday_overrides)
    _, outcomes = month_reports(services.engine, calendars, services.programs, SlaReportRequest(month=month))
    assert (outcomes.cases_reported, outcomes.diagnosis_changed, outcomes.treatment_changed) == (1, 0, 1)
    assert (outcomes.surgery_avoided, outcomes.satisfaction_mean, outcomes.will_follow_rate) == (1, 5.0, 1.0)
    # Each follow-up answer is an SLA round of its own kind: two answered, the second late.
    assert (outcomes.follow_ups_answered, outcomes.follow_ups_on_time) == (2, 1)
