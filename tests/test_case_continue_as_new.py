"""Cases that stay open continue as new: same workflow id, the same status, search attributes
and timeline, a short history per run. Time-skipping server; a small history budget so a
run fills up in a few simulated days."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from temporalio.client import Client, WorkflowExecutionDescription
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models import search
from models.case import (
    AddRecords,
    BookConsult,
    CaseStatus,
    Close,
    CompleteConsult,
    CompleteRecords,
    InfoReason,
    RecordType,
    RequestInfo,
    RequestThirdOpinion,
    SlaState,
    Stage,
    SupplyInfo,
    workflow_id_for,
)
from models.case_state import TIMELINE_KEPT
from runtime.outbox import read_outbox
from tests import scenario
from tests.polling import DEADLINE, eventually
from worker import Services
from workflows.smo_case import SmoCaseWorkflow

BUDGET = 60


def latest(client: Client, case_id: str) -> scenario.Handle:
    """The case by its workflow id alone: whichever run is current."""
    return client.get_workflow_handle_for(SmoCaseWorkflow.run, workflow_id_for(case_id))


async def settled(handle: scenario.Handle, timeout: float = DEADLINE) -> CaseStatus:
    """`scenario.settled`, for a case that may be continuing as new while it is asked.

    The time-skipping test server can drop a query that it buffered behind the workflow
    task that continued the run (the query then times out): such a query is asked again.
    """

    async def answer() -> CaseStatus | None:
        try:
            return await handle.query(SmoCaseWorkflow.status, rpc_timeout=timedelta(seconds=3))
        except RPCError as err:
            if err.status not in (
                RPCStatusCode.DEADLINE_EXCEEDED,
                RPCStatusCode.CANCELLED,
                RPCStatusCode.UNKNOWN,
            ):
                raise
            return None

    return await scenario.settled(handle, timeout, ask=answer)


def notice_ids(services: Services, case_id: str) -> Counter[tuple[str, str]]:
    """(notice id, recipient) of every message the case sent."""
    return Counter(
        (str(m["X-SMO-Notice-Id"]), str(m["To"]))
        for m in read_outbox(services.settings.outbox_dir)
        if m["X-SMO-Case-Id"] == case_id
    )


async def test_a_breached_case_reminding_every_working_day_continues_as_new_and_keeps_its_status(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    inp = scenario.case_input(services, "CAN-BREACH").model_copy(update={"history_budget": BUDGET})
    first = await scenario.start(ts_env.client, services.settings, inp)
    review = await scenario.to_review(ts_env, first, services, "prudential-kh")
    assert review.sla.due_at is not None and review.specialist_id is not None
    # Three months past the deadline: a reminder every working day, 60-odd of them.
    await ts_env.sleep(review.sla.due_at - await ts_env.get_current_time() + timedelta(days=90))

    handle = latest(ts_env.client, "CAN-BREACH")
    status = await scenario.status(handle)
    reminders = [t for t in status.timeline if t.event == "SLA breach reminder"]
    assert status.stage is Stage.UNDER_REVIEW and status.sla.state is SlaState.BREACHED
    assert status.sla.due_at == review.sla.due_at and status.specialist_id == review.specialist_id
    numbers = [int(t.detail) for t in reminders]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))) and numbers[-1] >= 30, numbers
    # The timeline the query returns is bounded; older entries are counted, not kept.
    assert len(status.timeline) == TIMELINE_KEPT and status.timeline_dropped > 0
    attrs = (await handle.describe()).typed_search_attributes
    assert attrs.get(search.STAGE) == "UNDER_REVIEW" and attrs.get(search.SLA_STATE) == "BREACHED"
    assert attrs.get(search.SLA_DEADLINE) == review.sla.due_at

    await scenario.submit_report(handle, services, review.specialist_id)
    await scenario.until(ts_env, handle, Stage.REPORT_DELIVERED)
    await handle.execute_update(SmoCaseWorkflow.close, Close(by="c"))
    result = await handle.result()
    assert result.stage is Stage.CLOSED and result.reports == 1

    lengths = [len(h.events) for h in await scenario.runs(ts_env.client, first.id)]
    print(f"events per run of a case breached for three months: {lengths}")
    assert len(lengths) >= 4, lengths
    assert max(lengths) < BUDGET + 40, lengths  # an idle point comes soon after the budget
    # Every reminder went out once, numbered on across the runs.
    sent = notice_ids(services, "CAN-BREACH")
    assert all(n == 1 for n in sent.values()), [k for k, n in sent.items() if n > 1]


async def test_an_assist_america_case_open_for_follow_up_consults_continues_as_new_between_them(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    inp = scenario.case_input(services, "CAN-FOLLOW", "assist-america").model_copy(
        update={"history_budget": BUDGET}
    )
    first = await scenario.start(ts_env.client, services.settings, inp)
    review = await scenario.to_review(ts_env, first, services, "assist-america")
    assert review.specialist_id is not None
    await scenario.submit_report(first, services, review.specialist_id)
    await scenario.until(ts_env, first, Stage.REPORT_DELIVERED)

    handle = latest(ts_env.client, "CAN-FOLLOW")
    for n in range(1, 9):
        slot = (await ts_env.get_current_time()) + timedelta(days=1)
        await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="c"))
        await handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="c"))
        status = await settled(handle)
        assert (status.consults_booked, status.consults_completed) == (n, n)
    assert any(t.event == "history continued in a new run" for t in status.timeline)
    assert status.report_doc_ids and status.free_consults_left == 999

    await handle.execute_update(SmoCaseWorkflow.close, Close(by="c"))
    result = await handle.result()
    assert result.stage is Stage.CLOSED
    lengths = [len(h.events) for h in await scenario.runs(ts_env.client, first.id)]
    # From the budget to the next idle point: the first run goes from intake to the report in
    # one stretch, each of its workflow tasks writing the case's view (one marker each).
    assert len(lengths) >= 2 and max(lengths) < BUDGET + 45, lengths
    sent = notice_ids(services, "CAN-FOLLOW")
    assert all(n == 1 for n in sent.values())
    booked = {notice for notice, _ in sent if ":consult_booked:" in notice}
    assert len(booked) == 8, sorted(sent)


async def test_a_client_cannot_start_a_case_with_forged_carried_state(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    from models.case_state import CaseState, Phase

    forged = CaseState(intake_doc_id="0" * 64, phase=Phase.CONSULT, stage=Stage.CONSULT, reports=["f" * 64])
    inp = scenario.case_input(services, "CAN-FORGED").model_copy(update={"carried": forged})
    handle = await scenario.start(ts_env.client, services.settings, inp)
    status = await scenario.until(ts_env, handle, Stage.GATHERING_RECORDS)
    assert status.report_doc_ids == [] and status.intake_doc_id == inp.intake_doc_id
    assert status.timeline[0].event == "opened"


async def quiet(handle: scenario.Handle, stage: Stage, sla: SlaState | None = None) -> None:
    """Until the case shows `stage` (and `sla`) and nothing runs in it: a person's next step.

    Followed with `describe`, not the `status` query: on the time-skipping server a query
    can add an empty workflow task to the history, which would blur what is counted here.
    """

    def idle(desc: WorkflowExecutionDescription) -> bool:
        attrs, raw = desc.typed_search_attributes, desc.raw_description
        return (
            attrs.get(search.STAGE) == stage.value
            and (sla is None or attrs.get(search.SLA_STATE) == sla.value)
            and not raw.pending_activities
            and not raw.HasField("pending_workflow_task")
        )

    await eventually(handle.describe, idle, what=lambda _: f"{handle.id} did not settle in {stage}")


async def test_with_a_budget_of_80_every_run_of_a_long_case_stays_within_120_events(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    """Records one file at a time and a reminder, stop-the-clock, three consults (two billed),
    a third opinion and a consult after it: paced as people would, one step at a time."""
    case_id = "CAN-LONG"
    inp = scenario.case_input(services, case_id).model_copy(update={"history_budget": 80})
    first = await scenario.start(ts_env.client, services.settings, inp)
    handle = latest(ts_env.client, case_id)
    await quiet(handle, Stage.GATHERING_RECORDS)
    uploads = scenario.required_records(services, "prudential-kh", case_id) + [
        scenario.upload(services, f"imaging, page {n}".encode(), RecordType.IMAGING, case_id)
        for n in range(8)
    ]
    for n, doc in enumerate(uploads):
        await handle.execute_update(SmoCaseWorkflow.add_record, AddRecords(documents=[doc], by="member"))
        if n == 2:  # the member pauses for a few days: a reminder goes out
            await ts_env.sleep(timedelta(days=3, hours=1))
        await quiet(handle, Stage.GATHERING_RECORDS)
    await scenario.attest_consent(handle, services)
    await handle.execute_update(SmoCaseWorkflow.mark_records_complete, CompleteRecords(by="coordinator"))
    await quiet(handle, Stage.UNDER_REVIEW, SlaState.RUNNING)
    specialist = (await settled(handle)).specialist_id
    assert specialist is not None

    ask = RequestInfo(reason=InfoReason.CLARIFICATION, by=specialist)
    await handle.execute_update(SmoCaseWorkflow.request_more_info, ask)
    await quiet(handle, Stage.UNDER_REVIEW, SlaState.PAUSED)
    await handle.execute_update(SmoCaseWorkflow.supply_info, SupplyInfo(by="coordinator"))
    await quiet(handle, Stage.UNDER_REVIEW, SlaState.RUNNING)
    await scenario.submit_report(handle, services, specialist)
    await quiet(handle, Stage.REPORT_DELIVERED)

    async def consult(expect: str) -> None:
        slot = (await ts_env.get_current_time()) + timedelta(days=1)
        ack = await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="c"))
        assert ack.detail == expect
        await quiet(handle, Stage.CONSULT)
        await handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="c"))
        await quiet(handle, Stage.CONSULT)

    for expect in ("free", "billed", "billed"):
        await consult(expect)
    await handle.execute_update(SmoCaseWorkflow.request_third_opinion, RequestThirdOpinion(by="c"))
    await quiet(handle, Stage.UNDER_REVIEW, SlaState.RUNNING)
    second = (await settled(handle)).specialist_id
    assert second not in (None, specialist), second
    await scenario.submit_report(handle, services, second)
    await quiet(handle, Stage.REPORT_DELIVERED)
    await consult("billed")
    await handle.execute_update(SmoCaseWorkflow.close, Close(by="c"))
    result = await handle.result()
    assert (result.stage, result.reports, result.charges) == (Stage.CLOSED, 2, 4), result

    runs = await scenario.runs(ts_env.client, first.id)
    lengths, sizes = [len(h.events) for h in runs], [scenario.payload_bytes(h) for h in runs]
    print(f"events per run: {lengths}; payload bytes per run: {sizes}")
    assert len(lengths) >= 3 and max(lengths) <= 120, lengths
    assert max(sizes) <= 32 * 1024, sizes
    sent = notice_ids(services, case_id)
    assert all(n == 1 for n in sent.values()), [k for k, n in sent.items() if n > 1]
    assert sum(":records_reminder:" in notice for notice, _ in sent) == 1, sorted(sent)


async def test_a_member_uploading_one_file_at_a_time_continues_as_new_and_the_reminder_keeps_its_day(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    case_id = "CAN-RECORDS"
    inp = scenario.case_input(services, case_id).model_copy(update={"history_budget": 40})
    first = await scenario.start(ts_env.client, services.settings, inp)
    handle = latest(ts_env.client, case_id)
    await quiet(handle, Stage.GATHERING_RECORDS)
    opened = await ts_env.get_current_time()  # the first reminder is due three days from here
    await ts_env.sleep(timedelta(days=2))
    for n in range(7):
        doc = scenario.upload(services, f"imaging, page {n}".encode(), RecordType.IMAGING, case_id)
        await handle.execute_update(SmoCaseWorkflow.add_record, AddRecords(documents=[doc], by="member"))
        await quiet(handle, Stage.GATHERING_RECORDS)
    lengths = [len(h.events) for h in await scenario.runs(ts_env.client, first.id)]
    assert len(lengths) >= 2, lengths

    # A day and an hour later the reminder is out: the continued run kept its due time
    # rather than starting a fresh three days.
    await ts_env.sleep(opened + timedelta(days=3, hours=1) - await ts_env.get_current_time())
    await quiet(handle, Stage.GATHERING_RECORDS)
    reminders = sorted(n for n, _ in notice_ids(services, case_id) if ":records_reminder:" in n)
    assert reminders == [f"{case_id}:records_reminder:1"], reminders
    status = await settled(handle)
    assert status.records.documents == 7
    assert [t.detail for t in status.timeline if t.event == "records reminder"] == ["1 of 3"]
