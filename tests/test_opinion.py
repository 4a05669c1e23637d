"""The opinion in two forms on the time-skipping server: a case opened with the member's two
questions takes no report without an answer to each, and one with them keeps its outcome, which
the case DB's outcomes report counts."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from calendars import CalendarService
from models.case import RecordType, SubmitReport
from models.opinion import Diagnosis, Opinion, OpinionSheet, Outcome, Treatment
from models.report import SlaReportRequest
from reports.monthly import month_reports
from reports.outcomes import ICT
from tests import scenario
from worker import Services
from workflows.smo_case import SmoCaseWorkflow


async def test_a_report_answers_each_question_and_its_outcome_is_counted_in_the_month(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    inp = scenario.case_input(services, "KH-OPINION-1", questions=2)
    handle = await scenario.start(ts_env.client, services.settings, inp)
    review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    assert review.questions == 2 and review.specialist_id
    report = scenario.upload(services, b"full report", RecordType.SMO_REPORT, "KH-OPINION-1")

    def sheet(answers: list[str]) -> str:
        data = OpinionSheet(summary="The diagnosis stands.", answers=answers).model_dump_json().encode()
        return services.store.put_bytes(data, "KH-OPINION-1").doc_id

    changed = Outcome(diagnosis=Diagnosis.CONFIRMED, treatment=Treatment.CHANGED, surgery_avoided=True)
    for opinion, refusal in (
        (None, "no answer to question 1, 2"),
        (Opinion(sheet_doc_id=sheet(["Yes."]), answers=1, outcome=changed), "no answer to question 2"),
    ):
        arg = SubmitReport(document=report, specialist_id=review.specialist_id, by="desk", opinion=opinion)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(SmoCaseWorkflow.submit_report, arg)
        assert refusal in str(refused.value.cause)

    opinion = Opinion(sheet_doc_id=sheet(["Yes.", "No."]), answers=2, outcome=changed)
    arg = SubmitReport(document=report, specialist_id=review.specialist_id, by="desk", opinion=opinion)
    await handle.execute_update(SmoCaseWorkflow.submit_report, arg)
    reported = await scenario.when(handle, lambda s: s.opinion is not None, "the opinion")
    assert reported.opinion is not None and reported.opinion.outcome == changed

    assert reported.opinion.at is not None
    month = reported.opinion.at.astimezone(ICT).strftime("%Y-%m")  # the report's month
    calendars = CalendarService(services.settings.holiday_overrides)
    _, outcomes = month_reports(services.engine, calendars, services.programs, SlaReportRequest(month=month))
    assert (outcomes.cases_reported, outcomes.treatment_changed, outcomes.diagnosis_changed) == (1, 1, 0)
    assert outcomes.surgery_avoided == 1 and outcomes.satisfaction_mean is None
