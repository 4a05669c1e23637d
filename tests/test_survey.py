"""The member's survey after the report, on the time-skipping server: due a day after the report,
answered once (a second answer is refused) and counted in the month's outcomes; unanswered, it
is reminded once and then lapses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from calendars import CalendarService
from models.case import RecordType, Stage, SubmitReport
from models.opinion import Diagnosis, Opinion, OpinionSheet, Outcome, Treatment
from models.report import SlaReportRequest
from models.survey import AnswerSurvey
from reports.monthly import month_reports
from reports.outcomes import ICT
from runtime.outbox import read_outbox
from tests import scenario
from worker import Services
from workflows.smo_case import SmoCaseWorkflow


async def reported(env: WorkflowEnvironment, services: Services, case_id: str) -> scenario.Handle:
    """A case with the survey, reported with its outcome (the treatment changed)."""
    inp = scenario.case_input(services, case_id, survey=True)
    handle = await scenario.start(env.client, services.settings, inp)
    review = await scenario.to_review(env, handle, services, "prudential-kh")
    assert review.specialist_id
    report = scenario.upload(services, b"full report", RecordType.SMO_REPORT, case_id)
    sheet = OpinionSheet(summary="A gentler treatment.").model_dump_json().encode()
    opinion = Opinion(
        sheet_doc_id=services.store.put_bytes(sheet, case_id).doc_id,
        answers=0,
        outcome=Outcome(diagnosis=Diagnosis.CONFIRMED, treatment=Treatment.CHANGED),
    )
    arg = SubmitReport(document=report, specialist_id=review.specialist_id, by="desk", opinion=opinion)
    await handle.execute_update(SmoCaseWorkflow.submit_report, arg)
    await scenario.until(env, handle, Stage.REPORT_DELIVERED)
    return handle


def surveys(services: Services, case_id: str) -> list[str]:
    return [
        m.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        for m in read_outbox(services.settings.outbox_dir)
        if m["X-SMO-Case-Id"] == case_id and "Three questions" in str(m["Subject"])
    ]


async def test_the_survey_goes_out_a_day_after_the_report_is_answered_once_and_counted(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle = await reported(ts_env, services, "KH-SURVEY-1")
    answer = AnswerSurvey(satisfaction=4, will_follow=True, by="member:KH-SURVEY-1")
    with pytest.raises(WorkflowUpdateFailedError) as early:
        await handle.execute_update(SmoCaseWorkflow.answer_survey, answer)
    assert "no survey yet" in str(early.value.cause)
    await ts_env.sleep(timedelta(days=1, hours=1))
    sent = await scenario.when(handle, lambda s: bool(s.survey and s.survey.sent_at), "the survey sent")
    assert sent.survey is not None and sent.survey.open
    await scenario.settled(handle)
    (mail,) = surveys(services, "KH-SURVEY-1")
    assert "/portal/survey/KH-SURVEY-1/1/" in mail and "?lang=en" in mail
    await handle.execute_update(SmoCaseWorkflow.answer_survey, answer)
    with pytest.raises(WorkflowUpdateFailedError) as twice:
        await handle.execute_update(SmoCaseWorkflow.answer_survey, answer)
    assert "answered already" in str(twice.value.cause)

    assert sent.opinion is not None and sent.opinion.at is not None
    month = sent.opinion.at.astimezone(ICT).strftime("%Y-%m")  # the report's month
    calendars = CalendarService(services.settings.holiday_overrides)
    _, outcomes = month_reports(services.engine, calendars, services.programs, SlaReportRequest(month=month))
    assert (outcomes.cases_reported, outcomes.treatment_changed) == (1, 1)
    assert (outcomes.satisfaction_mean, outcomes.survey_response_rate, outcomes.will_follow_rate) == (
        4.0,
        1.0,
        1.0,
    )


async def test_an_unanswered_survey_is_reminded_once_and_then_lapses(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle = await reported(ts_env, services, "KH-SURVEY-2")
    await ts_env.sleep(timedelta(days=5))
    reminded = await scenario.when(handle, lambda s: bool(s.survey and s.survey.reminded), "the reminder")
    assert reminded.survey is not None and reminded.survey.open
    await ts_env.sleep(timedelta(days=10))
    lapsed = await scenario.when(handle, lambda s: bool(s.survey and s.survey.lapsed), "the lapse")
    assert lapsed.survey is not None and not lapsed.survey.open
    await scenario.settled(handle)
    assert len(surveys(services, "KH-SURVEY-2")) == 2
    with pytest.raises(WorkflowUpdateFailedError) as closed:
        await handle.execute_update(
            SmoCaseWorkflow.answer_survey,
            AnswerSurvey(satisfaction=5, will_follow=True, by="member:KH-SURVEY-2"),
        )
    assert "has closed" in str(closed.value.cause)
