"""The review's findings, each pinned by a scenario that failed before its fix."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.billing import ChargeRequest, ChargeResult, Ledger, PaymentDeclinedError
from models import search
from models.case import BookConsult, Close, CompleteConsult, EligibilityFacts, Stage
from tests import scenario
from tests.reliability.harness import activity_attempts, charges, delivered
from worker import Services, build_worker
from workflows.case.options import business_error
from workflows.smo_case import SmoCaseWorkflow

ROOT = Path(__file__).resolve().parents[1]
EXCLUSIONS = [
    "cosmetic",
    "dental",
    "experimental",
    "fertility",
    "mental_health",
    "obesity",
    "pregnancy",
    "war",
]


def test_exclusions_serialise_sorted_so_every_worker_sends_the_same_activity_input() -> None:
    facts = EligibilityFacts(exclusions=frozenset(reversed(EXCLUSIONS)))
    assert facts.model_dump(mode="json")["exclusions"] == EXCLUSIONS
    assert EligibilityFacts.model_validate_json(facts.model_dump_json()) == facts


@pytest.mark.parametrize("seed", ["1", "2", "3"])
def test_the_same_exclusions_make_the_same_bytes_under_any_hash_seed(seed: str) -> None:
    # A set iterates in an order that depends on PYTHONHASHSEED: another process, another order.
    code = (
        "from models.case import EligibilityFacts;"
        f"print(EligibilityFacts(exclusions=frozenset({EXCLUSIONS!r})).model_dump_json())"
    )
    env = os.environ | {"PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout)["exclusions"] == EXCLUSIONS


def test_a_declined_payment_is_a_business_answer_even_without_the_non_retryable_flag() -> None:
    # BILLING's retry policy stops on PaymentDeclined; the case must not mistake it for an outage.
    assert business_error(ApplicationError("card declined", type="PaymentDeclined")) is not None
    assert business_error(ApplicationError("timeout", type="ConnectionError")) is None


class DecliningLedger(Ledger):
    """The payment processor declines every charge (card refused)."""

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(ledger.engine)

    def charge(self, req: ChargeRequest) -> ChargeResult:
        raise PaymentDeclinedError("card declined by the issuer")


@pytest.fixture
def declining(services: Services) -> Iterator[Services]:
    yield dataclasses.replace(services, ledger=DecliningLedger(services.ledger))


async def test_a_declined_consult_charge_is_tried_once_undoes_the_booking_and_asks_for_attention(
    ts_env: WorkflowEnvironment, services: Services, declining: Services
) -> None:
    async with build_worker(ts_env.client, declining, workflow_failure_exception_types=[Exception]):
        handle = await scenario.start(
            ts_env.client, services.settings, scenario.case_input(services, "DECLINED")
        )
        review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
        assert review.specialist_id is not None
        await scenario.submit_report(handle, services, review.specialist_id)
        await scenario.until(ts_env, handle, Stage.REPORT_DELIVERED)
        slot = (await ts_env.get_current_time()) + timedelta(days=2)
        await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="c"))  # free
        await handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="c"))
        await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="c"))  # billed
        status = await scenario.settled(handle)
        events = [(t.event, t.detail) for t in status.timeline]
        assert ("charge declined", "consult 150.00 USD: PaymentDeclined") in events
        assert not any(event == "escalated" for event, _ in events)
        assert (status.consults_booked, status.consult_pending) == (1, False)
        assert await activity_attempts(ts_env.client, handle.id, "charge_customer") == [1]
        attention = (await handle.describe()).typed_search_attributes.get(search.ATTENTION)
        assert attention == "billing consult declined"
        await handle.execute_update(SmoCaseWorkflow.close, Close(by="c"))
        result = await handle.result()
    assert (result.stage, result.charges) == (Stage.CLOSED, 0)
    assert charges(services.settings) == {}
    sent = delivered(services.settings.outbox_dir)
    assert ("DECLINED:attention:declined-consult:2", "supervisors@example.org") in sent, sorted(sent)
