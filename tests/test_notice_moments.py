"""The emails a member expects, each at its moment and in their language: the records are
complete, a specialist has the case (with the date the report is due), the report is ready
(with a way back into the portal), and, refused, why and what they can do next.
"""

from __future__ import annotations

from email.message import EmailMessage

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models.case import AddRecords, CompleteRecords, Stage
from models.notices import NoticeKind
from models.vocabulary import Language
from runtime.i18n import ICT, when
from runtime.outbox import read_outbox
from tests import scenario
from tests.polling import eventually
from worker import Services
from workflows.smo_case import SmoCaseWorkflow

MEMBER = str(scenario.intake().email)


def member_mail(services: Services, case_id: str) -> dict[NoticeKind, EmailMessage]:
    """The member's messages of a case by notice kind, in the order they arrived."""
    found: dict[NoticeKind, EmailMessage] = {}
    for msg in read_outbox(services.settings.outbox_dir):
        if msg["X-SMO-Case-Id"] == case_id and msg["To"] == MEMBER:
            kind = NoticeKind(str(msg["X-SMO-Notice-Id"]).split(":")[1])
            assert kind not in found, f"{kind} sent twice"
            found[kind] = msg
    return found


async def mail_of(services: Services, case_id: str, kind: NoticeKind) -> EmailMessage:
    async def sent() -> dict[NoticeKind, EmailMessage]:
        return member_mail(services, case_id)

    return (
        await eventually(sent, lambda mail: kind in mail, what=lambda mail: f"{kind} not in {list(mail)}")
    )[kind]


def body_of(msg: EmailMessage) -> str:
    return str(msg.get_body().get_content())  # type: ignore[union-attr]


async def test_a_khmer_member_hears_of_complete_records_the_specialist_and_the_due_date_then_the_report(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    patient = scenario.intake(language="km")
    inp = scenario.case_input(services, "KH-MOMENTS-1", patient=patient)
    handle = await scenario.start(ts_env.client, services.settings, inp)
    await scenario.until(ts_env, handle, Stage.GATHERING_RECORDS)
    opened = await mail_of(services, "KH-MOMENTS-1", NoticeKind.CASE_OPENED)
    assert opened["Content-Language"] == "km" and "?lang=km" in body_of(opened)

    # Records added, consent given: nothing said until the desk declares the records complete.
    records = scenario.required_records(services, "prudential-kh", "KH-MOMENTS-1")
    await handle.execute_update(SmoCaseWorkflow.add_record, AddRecords(documents=records, by="coordinator"))
    await scenario.attest_consent(handle, services)
    await scenario.settled(handle)
    assert NoticeKind.RECORDS_COMPLETE not in member_mail(services, "KH-MOMENTS-1")
    await handle.execute_update(SmoCaseWorkflow.mark_records_complete, CompleteRecords(by="coordinator"))
    complete = await mail_of(services, "KH-MOMENTS-1", NoticeKind.RECORDS_COMPLETE)
    assert complete["Content-Language"] == "km"

    await scenario.until(ts_env, handle, Stage.UNDER_REVIEW)
    review = await scenario.when(handle, lambda s: s.sla.due_at is not None, "an SLA deadline")
    assert review.sla.due_at is not None and review.specialist_id
    assigned = await mail_of(services, "KH-MOMENTS-1", NoticeKind.SPECIALIST_ASSIGNED)
    # The due date the clock set, in the member's language and in ICT (a Khmer month name).
    assert when(review.sla.due_at, Language.KM, ICT) in body_of(assigned)
    assert str(assigned["X-SMO-Notice-Id"]) == "KH-MOMENTS-1:specialist_assigned:1"

    await scenario.submit_report(handle, services, review.specialist_id)
    await scenario.until(ts_env, handle, Stage.REPORT_DELIVERED)
    report = body_of(await mail_of(services, "KH-MOMENTS-1", NoticeKind.REPORT_DELIVERED))
    assert "/reports/KH-MOMENTS-1/" in report and "/portal/signin/" in report and "?lang=km" in report
    await scenario.settled(handle)
    # Once each, in the order of the case; the records' and the specialist's may cross (both
    # go out as the review starts when the member's consent is already on file).
    first, *middle, last = member_mail(services, "KH-MOMENTS-1")
    assert (first, last) == (NoticeKind.CASE_OPENED, NoticeKind.REPORT_DELIVERED)
    assert set(middle) == {NoticeKind.RECORDS_COMPLETE, NoticeKind.SPECIALIST_ASSIGNED}


async def test_a_refused_member_reads_which_rule_applied_and_what_to_do_next(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    patient = scenario.intake("assist-america", policy_number="AA-NOPE-9999")
    inp = scenario.case_input(services, "AA-REFUSED-1", "assist-america", patient=patient)
    handle = await scenario.start(ts_env.client, services.settings, inp)
    refused = await scenario.until(ts_env, handle, Stage.INELIGIBLE)
    assert refused.eligibility is not None
    program = services.programs["assist-america"]
    body = body_of(await mail_of(services, "AA-REFUSED-1", NoticeKind.INELIGIBLE))
    for reason in refused.eligibility.reasons:
        words = program.member_words(reason.code)
        assert f"Why: {words.reason}" in body and f"What you can do: {words.next_step}" in body
        assert reason.text not in body  # the rule's own text is the desk's

    async def desk_mail() -> list[str]:
        return [
            body_of(m)
            for m in read_outbox(services.settings.outbox_dir)
            if m["X-SMO-Case-Id"] == "AA-REFUSED-1" and m["To"] == services.settings.coordinator_email
        ]

    # The desk's copy is its own activity; it may land after the member's.
    desk = await eventually(desk_mail, bool, what=lambda mail: "no desk mail for AA-REFUSED-1")
    assert all(r.text in desk[0] for r in refused.eligibility.reasons)
    assert (await handle.result()).stage is Stage.INELIGIBLE
