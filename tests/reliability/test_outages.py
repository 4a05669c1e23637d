"""The outside systems fail: the SMTP server is down, the payment side returns errors.

An activity retries by its policy (six attempts over about a minute); once the policy is
spent the case escalates (a timeline entry and the SmoAttention search attribute), waits
ESCALATION_PAUSE (15 minutes) and tries again. These run on the time-skipping server so the
pause passes in moments; the fault is real (connections refused, a ledger that raises).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment

from activities.billing import ChargeRequest, ChargeResult, Ledger
from models import search
from models.case import BookConsult, Close, CompleteConsult, Stage
from models.settings import Settings
from runtime.outbox import OutboxHandler, redeliveries
from tests import scenario
from tests.reliability.harness import (
    SwitchableSmtp,
    activity_attempts,
    charges,
    delivered,
    repeated,
)
from worker import Services, build_worker
from workflows.smo_case import ESCALATION_PAUSE, SmoCaseWorkflow

# EMAIL and BILLING: attempts 2, 4, 8, 16 and 30 s apart, so the sixth fails a minute in.
POLICY_SPENT = timedelta(minutes=2)


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


class FailingLedger(Ledger):
    """The payment side answers with errors for its first `failures` calls."""

    def __init__(self, ledger: Ledger, failures: int) -> None:
        super().__init__(ledger.engine)
        self.failures = failures
        self.calls = 0

    def charge(self, req: ChargeRequest) -> ChargeResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"payment processor unavailable (call {self.calls})")
        return super().charge(req)


async def attention(handle: scenario.Handle) -> str | None:
    return (await handle.describe()).typed_search_attributes.get(search.ATTENTION)


def escalations(status: Any) -> list[str]:
    return [t.detail for t in status.timeline if t.event == "escalated"]


async def close_case(
    env: WorkflowEnvironment, handle: scenario.Handle, services: Services, consults: int
) -> None:
    review = await scenario.to_review(env, handle, services, "prudential-kh")
    assert review.specialist_id is not None
    await scenario.submit_report(handle, services, review.specialist_id)
    await scenario.until(env, handle, Stage.REPORT_DELIVERED)
    await book_consults(env, handle, consults)
    await handle.execute_update(SmoCaseWorkflow.close, Close(by="c"))
    assert (await handle.result()).stage is Stage.CLOSED


async def book_consults(env: WorkflowEnvironment, handle: scenario.Handle, consults: int) -> None:
    for _ in range(consults):
        slot = (await env.get_current_time()) + timedelta(days=2)
        await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="c"))
        await handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="c"))


async def test_smtp_down_escalates_and_each_notice_goes_out_once_when_it_is_back(
    ts_env: WorkflowEnvironment, services: Services, smtp: SwitchableSmtp
) -> None:
    smtp.down()
    async with build_worker(ts_env.client, services, workflow_failure_exception_types=[Exception]):
        inp = scenario.case_input(services, "OUT-SMTP")
        handle = await scenario.start(ts_env.client, services.settings, inp)
        await scenario.until(ts_env, handle, Stage.GATHERING_RECORDS)

        await ts_env.sleep(POLICY_SPENT)
        status = await scenario.status(handle)
        assert escalations(status) == ["email case_opened failing after retries (round 1)"]
        assert await attention(handle) == "email case_opened failing"
        assert await activity_attempts(ts_env.client, handle.id, "send_notice") == [6]
        assert not delivered(services.settings.outbox_dir)

        smtp.up()
        await ts_env.sleep(ESCALATION_PAUSE)
        assert await activity_attempts(ts_env.client, handle.id, "send_notice") == [6, 1]
        assert await attention(handle) is None

        await close_case(ts_env, handle, services, consults=2)
    sent = delivered(services.settings.outbox_dir)
    assert not repeated(sent)
    assert ("OUT-SMTP:case_opened:1", "sokha.chan@example.com") in sent
    assert charges(services.settings) == {"OUT-SMTP:consult:2": 1}


async def test_billing_errors_escalate_and_the_consult_is_charged_once_when_they_stop(
    ts_env: WorkflowEnvironment, services: Services
) -> None:
    # Six calls fail (the policy is spent), then two more after the pause, then it answers.
    ledger = FailingLedger(services.ledger, failures=8)
    flaky = dataclasses.replace(services, ledger=ledger)
    async with build_worker(ts_env.client, flaky, workflow_failure_exception_types=[Exception]):
        inp = scenario.case_input(services, "OUT-BILL")
        handle = await scenario.start(ts_env.client, services.settings, inp)
        review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
        assert review.specialist_id is not None
        await scenario.submit_report(handle, services, review.specialist_id)
        await scenario.until(ts_env, handle, Stage.REPORT_DELIVERED)
        await book_consults(ts_env, handle, 1)  # the free one

        slot = (await ts_env.get_current_time()) + timedelta(days=3)
        booking = await handle.start_update(
            SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="c"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        await ts_env.sleep(POLICY_SPENT)
        status = await scenario.status(handle)
        assert escalations(status) == ["billing consult failing after retries (round 1)"]
        assert await attention(handle) == "billing consult failing"
        # The booking answered at once; its charge waits in the case's pending side effects.
        assert status.consult_pending and status.consults_booked == 2
        assert status.pending[0] == "charge consult:2"
        assert charges(services.settings) == {}

        await ts_env.sleep(ESCALATION_PAUSE)
        assert (await booking.result()).detail == "billed"
        assert ledger.calls == 9
        assert await attention(handle) is None
        await handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="c"))
        await handle.execute_update(SmoCaseWorkflow.close, Close(by="c"))
        result = await handle.result()
    assert (result.stage, result.charges) == (Stage.CLOSED, 1)
    assert charges(services.settings) == {"OUT-BILL:consult:2": 1}
    sent = delivered(services.settings.outbox_dir)
    assert not repeated(sent)
    assert ("OUT-BILL:receipt:consult:2", "sokha.chan@example.com") in sent


class RefusesOnce(OutboxHandler):
    """An SMTP server that, once armed, answers the next RCPT TO for `address` with a temporary
    error (451 4.3.0), as a busy or greylisting mail server does."""

    def __init__(self, directory: Path, address: str) -> None:
        super().__init__(directory)
        self.address = address
        self.armed = False
        self.refused = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address == self.address and self.armed:
            self.armed = False
            self.refused += 1
            return "451 4.3.0 mailbox temporarily unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"


async def test_one_recipient_refused_for_a_moment_does_not_resend_to_the_others(
    ts_env: WorkflowEnvironment, settings: Settings
) -> None:
    # consult_booked goes to the customer, then the specialist; the specialist's server says "later".
    refuses = RefusesOnce(settings.outbox_dir, "h.marsh@specialists.example.org")
    smtp = SwitchableSmtp(settings.outbox_dir, settings.smtp_host, settings.smtp_port, refuses).up()
    services = Services.from_settings(settings)
    try:
        async with build_worker(ts_env.client, services, workflow_failure_exception_types=[Exception]):
            handle = await scenario.start(ts_env.client, settings, scenario.case_input(services, "OUT-RCPT"))
            review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
            assert review.specialist_id == "SP-ONC-001"
            await scenario.submit_report(handle, services, review.specialist_id)
            await scenario.until(ts_env, handle, Stage.REPORT_DELIVERED)
            refuses.armed = True
            await book_consults(ts_env, handle, 1)
            await scenario.settled(handle)  # the notice is sent: the retry did it
            assert refuses.refused == 1
    finally:
        smtp.down()
        services.engine.dispose()
    sent = delivered(settings.outbox_dir)
    assert sent[("OUT-RCPT:consult_booked:1", "h.marsh@specialists.example.org")] == 1
    assert not repeated(sent), repeated(sent)
    # The customer's copy was not sent again at all (not merely de-duplicated by the outbox).
    assert redeliveries(settings.outbox_dir) == 0
