"""Updates answer at once while mail or payments are down; the side effect follows later, once.

The SMTP server is really down (connections refused) and the ledger really fails; each
update a coordinator sends is timed on the wall clock. When the outage clears, the queued
notice or charge goes out exactly once. Time-skipping server: escalation pauses pass in moments.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.billing import ChargeRequest, ChargeResult, Ledger
from models.case import (
    AddRecords,
    BookConsult,
    Close,
    CompleteConsult,
    RecordType,
    RequestThirdOpinion,
    Stage,
    UpdateAck,
    UpdateDetails,
)
from models.settings import Settings
from tests import scenario
from tests.reliability.harness import SwitchableSmtp, charges, delivered, repeated
from worker import Services, build_worker
from workflows.smo_case import SmoCaseWorkflow

ANSWER_WITHIN = 1.0  # seconds, on the wall clock


@pytest.fixture
def smtp(settings: Settings) -> Iterator[SwitchableSmtp]:
    switch = SwitchableSmtp(settings.outbox_dir, settings.smtp_host, settings.smtp_port).up()
    try:
        yield switch
    finally:
        switch.down()


@pytest.fixture
def services(settings: Settings, smtp: SwitchableSmtp) -> Iterator[Services]:
    svc = Services.from_settings(settings)
    yield svc
    svc.engine.dispose()


class SwitchableLedger(Ledger):
    """The payment side: unreachable while `down`, then the real ledger."""

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(ledger.engine)
        self.down = False
        self.calls = 0

    def charge(self, req: ChargeRequest) -> ChargeResult:
        self.calls += 1
        if self.down:
            raise ConnectionError("payment processor unreachable")
        return super().charge(req)


async def timed(update: Awaitable[UpdateAck], latencies: list[float]) -> UpdateAck:
    started = time.perf_counter()
    ack = await update
    latencies.append(time.perf_counter() - started)
    return ack


async def delivered_case(env: WorkflowEnvironment, services: Services, case_id: str, program: str) -> Any:
    handle = await scenario.start(
        env.client, services.settings, scenario.case_input(services, case_id, program)
    )
    review = await scenario.to_review(env, handle, services, program)
    assert review.specialist_id is not None
    await scenario.submit_report(handle, services, review.specialist_id)
    await scenario.until(env, handle, Stage.REPORT_DELIVERED)
    return handle


async def test_with_smtp_down_every_update_answers_within_a_second_and_each_notice_goes_out_once_it_is_back(
    ts_env: WorkflowEnvironment, services: Services, smtp: SwitchableSmtp
) -> None:
    latencies: list[float] = []
    async with build_worker(ts_env.client, services, workflow_failure_exception_types=[Exception]):
        handle = await delivered_case(ts_env, services, "NOW-SMTP", "assist-america")
        smtp.down()
        late = scenario.upload(services, b"a late scan", RecordType.IMAGING, "NOW-SMTP")
        new_intake = services.store.put_intake(
            scenario.intake("assist-america", phone="+855 12 999 000"), "NOW-SMTP"
        )
        slot = (await ts_env.get_current_time()) + timedelta(days=2)
        await timed(
            handle.execute_update(SmoCaseWorkflow.add_record, AddRecords(documents=[late], by="c")), latencies
        )
        details = UpdateDetails(intake_doc_id=new_intake.doc_id, by="c")
        await timed(handle.execute_update(SmoCaseWorkflow.update_details, details), latencies)
        booked = await timed(
            handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="c")), latencies
        )
        assert booked.detail == "free"
        status = await scenario.status(handle)
        assert status.pending == [
            "email team_notified:late-docs-3",
            f"email team_notified:details-{new_intake.doc_id[:12]}",
            "email consult_booked:1",
        ]
        await timed(
            handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="c")), latencies
        )
        await timed(handle.execute_update(SmoCaseWorkflow.close, Close(by="c")), latencies)
        print(
            f"update latency with SMTP down: max {max(latencies) * 1000:.0f} ms over {len(latencies)} updates"
        )
        assert max(latencies) < ANSWER_WITHIN, latencies

        smtp.up()
        result = await handle.result()
        assert result.stage is Stage.CLOSED
        assert (await scenario.status(handle)).pending == []
    sent = delivered(services.settings.outbox_dir)
    assert not repeated(sent), repeated(sent)
    ids = {notice for notice, _ in sent}
    for notice in (
        "team_notified:late-docs-3",
        f"team_notified:details-{new_intake.doc_id[:12]}",
        "consult_booked:1",
    ):
        assert f"NOW-SMTP:{notice}" in ids, sorted(ids)


async def test_with_billing_down_bookings_answer_within_a_second_and_each_charge_is_taken_once_it_is_back(
    ts_env: WorkflowEnvironment, services: Services
) -> None:
    ledger = SwitchableLedger(services.ledger)
    latencies: list[float] = []
    async with build_worker(
        ts_env.client,
        dataclasses.replace(services, ledger=ledger),
        workflow_failure_exception_types=[Exception],
    ):
        handle = await delivered_case(ts_env, services, "NOW-BILL", "prudential-kh")
        slot = (await ts_env.get_current_time()) + timedelta(days=2)
        await handle.execute_update(
            SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="c")
        )  # the free one
        await handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="c"))
        await scenario.settled(handle)
        ledger.down = True
        billed = await timed(
            handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="c")), latencies
        )
        assert billed.detail == "billed"
        status = await scenario.status(handle)
        assert status.pending[0] == "charge consult:2" and status.consults_booked == 2
        await timed(
            handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="c")), latencies
        )
        await timed(handle.execute_update(SmoCaseWorkflow.close, Close(by="c")), latencies)
        print(
            f"update latency with billing down: max {max(latencies) * 1000:.0f} ms, {len(latencies)} updates"
        )
        assert max(latencies) < ANSWER_WITHIN, latencies
        # The case stays open while the charge is owed: the retries pass, the outage shows.
        await ts_env.sleep(timedelta(minutes=5))
        timeline = (await scenario.status(handle)).timeline
        assert [t.detail for t in timeline if t.event == "escalated"] == [
            "billing consult failing after retries (round 1)"
        ]
        assert charges(services.settings) == {}

        ledger.down = False
        result = await handle.result()
    assert (result.stage, result.charges) == (Stage.CLOSED, 1)
    assert charges(services.settings) == {"NOW-BILL:consult:2": 1}
    sent = delivered(services.settings.outbox_dir)
    assert not repeated(sent)
    assert ("NOW-BILL:receipt:consult:2", "sokha.chan@example.com") in sent


async def test_a_third_opinion_asked_while_billing_is_down_answers_at_once_and_is_billed_once_later(
    ts_env: WorkflowEnvironment, services: Services
) -> None:
    ledger = SwitchableLedger(services.ledger)
    async with build_worker(
        ts_env.client,
        dataclasses.replace(services, ledger=ledger),
        workflow_failure_exception_types=[Exception],
    ):
        handle = await delivered_case(ts_env, services, "NOW-THIRD", "prudential-kh")
        ledger.down = True
        latencies: list[float] = []
        ack = await timed(
            handle.execute_update(SmoCaseWorkflow.request_third_opinion, RequestThirdOpinion(by="c")),
            latencies,
        )
        assert ack.detail == "billed" and max(latencies) < ANSWER_WITHIN
        assert (await scenario.status(handle)).pending == ["charge third-opinion:1"]
        await ts_env.sleep(timedelta(minutes=5))
        assert (await scenario.status(handle)).stage is Stage.REPORT_DELIVERED  # not paid yet
        ledger.down = False
        await ts_env.sleep(timedelta(minutes=30))
        second = await scenario.until(ts_env, handle, Stage.UNDER_REVIEW)
        assert second.pending == []
    assert charges(services.settings) == {"NOW-THIRD:third-opinion:1": 1}
