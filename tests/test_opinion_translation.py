"""A member who reads Khmer gets the opinion's summary and answers in Khmer, on the time-skipping
server: the report is delivered with the English and the date the Khmer follows by; the
translator is asked, reminded once, and the desk told at the deadline; the translation clears the
case's attention and the member is told. A second translation, and one for an English member's
case, are refused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from email.message import EmailMessage

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models.case import CaseStatus, Close, RecordType, Stage, SubmitReport
from models.opinion import Opinion, OpinionSheet, OpinionTranslation, TranslateOpinion
from tests import scenario
from tests.polling import eventually
from tests.test_records_gathering import mail_to, text
from worker import Services
from workflows.case.opinion_translation import LATE
from workflows.smo_case import SmoCaseWorkflow


def mails(services: Services, case_id: str, address: str) -> Callable[[], Awaitable[list[EmailMessage]]]:
    """A probe of the outbox for `eventually`: the case's messages to `address`."""

    async def probe() -> list[EmailMessage]:
        return mail_to(services, case_id, address)

    return probe


def _task(status: CaseStatus) -> OpinionTranslation:
    assert status.opinion is not None and status.opinion.translation is not None
    return status.opinion.translation


def sheet(services: Services, case_id: str, summary: str, answers: list[str]) -> str:
    data = OpinionSheet(summary=summary, answers=answers).model_dump_json().encode()
    return services.store.put_bytes(data, case_id).doc_id


async def reported(
    env: WorkflowEnvironment, services: Services, case_id: str, *, khmer: bool
) -> tuple[scenario.Handle, str]:
    """A case with one question, reported with a summary and its answer; the English sheet's id."""
    patient = scenario.intake(language="km" if khmer else "en")
    inp = scenario.case_input(services, case_id, patient=patient, questions=1)
    handle = await scenario.start(env.client, services.settings, inp)
    review = await scenario.to_review(env, handle, services, "prudential-kh")
    assert review.specialist_id
    english = sheet(services, case_id, "The diagnosis stands; the dose changes.", ["Yes, after two cycles."])
    opinion = Opinion(sheet_doc_id=english, answers=1, translate_to="km" if khmer else None)
    report = scenario.upload(services, b"full report", RecordType.SMO_REPORT, case_id)
    arg = SubmitReport(document=report, specialist_id=review.specialist_id, by="desk", opinion=opinion)
    await handle.execute_update(SmoCaseWorkflow.submit_report, arg)
    await scenario.until(env, handle, Stage.REPORT_DELIVERED)
    return handle, english


async def test_the_khmer_summary_is_asked_reminded_escalated_and_delivered(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    case_id = "KH-TRANSLATE-1"
    handle, english = await reported(ts_env, services, case_id, khmer=True)
    asked = await scenario.when(
        handle, lambda s: s.opinion is not None and s.opinion.translation is not None, "the task"
    )
    assert asked.opinion is not None and asked.opinion.translation is not None
    task = asked.opinion.translation
    assert task.open and task.language == "km" and not task.reminded

    # The translator's email links the page for this sheet; the member's report email says by when.
    translator = services.settings.translator_email
    (request,) = await eventually(mails(services, case_id, translator), bool, what=lambda _: "no email")
    assert f"/portal/opinion-translations/{case_id}/{english[:16]}/" in text(request)
    member = mail_to(services, case_id, "sokha.chan@example.com")
    assert any("ការបកប្រែជាភាសារបស់អ្នកនឹងមកដល់ត្រឹម" in text(m) for m in member)

    # Time skips only while the test sleeps (a query does not skip it): each step is waited for.
    await ts_env.sleep(timedelta(days=2))  # past the one working day's deadline
    reminded = await scenario.when(handle, lambda s: _task(s).reminded, "the reminder")
    assert _task(reminded).late_at is not None and reminded.attention is None
    await ts_env.sleep(timedelta(days=4))  # past the working day more
    late = await scenario.when(handle, lambda s: s.attention == LATE, "the escalation")
    assert late.attention == LATE
    assert len(mail_to(services, case_id, translator)) == 2  # asked, then reminded once
    desk = mail_to(services, case_id, services.settings.coordinator_email)
    assert any("past its deadline" in str(m["Subject"]) for m in desk)

    # A coordinator's close waits for the member's Khmer.
    await handle.execute_update(SmoCaseWorkflow.close, Close(by="desk"))
    assert (await scenario.settled(handle)).stage is not Stage.CLOSED
    khmer = sheet(services, case_id, "រោគវិនិច្ឆ័យនៅដដែល។", ["បាទ/ចាស បន្ទាប់ពីពីរវគ្គ។"])
    ack = await handle.execute_update(
        SmoCaseWorkflow.translate_opinion, TranslateOpinion(sheet_doc_id=khmer, by="translator")
    )
    assert ack.detail == "the translation is with the case (late)"
    done = await scenario.status(handle)
    assert done.opinion is not None and done.opinion.translation is not None
    assert done.opinion.translation.sheet_doc_id == khmer and done.attention is None
    with pytest.raises(WorkflowUpdateFailedError) as again:
        await handle.execute_update(
            SmoCaseWorkflow.translate_opinion, TranslateOpinion(sheet_doc_id=khmer, by="translator")
        )
    assert "translated already" in str(again.value.cause)
    told = await eventually(
        mails(services, case_id, "sokha.chan@example.com"),
        lambda now: len(now) > len(member),
        what=lambda _: "the member was not told",
    )
    assert any("មានជាភាសារបស់អ្នកហើយ" in str(m["Subject"]) for m in told)
    assert (await handle.result()).stage is Stage.CLOSED


async def test_an_english_member_s_opinion_opens_no_translation_and_takes_none(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    case_id = "KH-TRANSLATE-2"
    handle, _ = await reported(ts_env, services, case_id, khmer=False)
    current = await scenario.settled(handle)
    assert current.opinion is not None and current.opinion.translation is None
    assert mail_to(services, case_id, services.settings.translator_email) == []
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        khmer = sheet(services, case_id, "?", ["?"])
        await handle.execute_update(
            SmoCaseWorkflow.translate_opinion, TranslateOpinion(sheet_doc_id=khmer, by="translator")
        )
    assert "asks for no translation" in str(refused.value.cause)
