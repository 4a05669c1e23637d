"""What the member's page is built from: the case's `status` says whether it takes records and a
booking now, by the rules its own validators apply, and when the booked consult is.

A real worker on the time-skipping server; each claim of the status is checked against the
update it speaks for.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models.case import AddRecords, BookConsult, CompleteConsult, RecordType, Stage
from tests import scenario
from worker import Services
from workflows.smo_case import SmoCaseWorkflow


async def test_records_are_accepted_while_the_validator_takes_them(
    ts_env: WorkflowEnvironment, services: Services, ts_worker: Worker
) -> None:
    # prudential-kh takes no late documents; assist-america does.
    strict = await scenario.start(ts_env.client, services.settings, scenario.case_input(services, "TAKES-1"))
    await scenario.until(ts_env, strict, Stage.GATHERING_RECORDS)
    assert (await scenario.status(strict)).records.accepting
    review = await scenario.to_review(ts_env, strict, services, "prudential-kh")
    assert review.stage is Stage.UNDER_REVIEW and not review.records.accepting
    scan = scenario.upload(services, b"a late scan", RecordType.IMAGING, "TAKES-1")
    late = AddRecords(documents=[scan], by="member")
    with pytest.raises(WorkflowUpdateFailedError):
        await strict.execute_update(SmoCaseWorkflow.add_record, late)

    inp = scenario.case_input(services, "TAKES-2", "assist-america")
    lenient = await scenario.start(ts_env.client, services.settings, inp)
    review = await scenario.to_review(ts_env, lenient, services, "assist-america")
    assert review.records.accepting
    # The same scan, sent for this case: stored for it, it is the same document (its sha256).
    assert scenario.upload(services, b"a late scan", RecordType.IMAGING, "TAKES-2") == scan
    await lenient.execute_update(SmoCaseWorkflow.add_record, late)


async def test_a_booking_is_open_after_the_report_and_the_booked_time_shows_until_the_consult_is_held(
    ts_env: WorkflowEnvironment, services: Services, ts_worker: Worker
) -> None:
    inp = scenario.case_input(services, "BOOK-1", "assist-america")
    handle = await scenario.start(ts_env.client, services.settings, inp)
    review = await scenario.to_review(ts_env, handle, services, "assist-america")
    assert not review.consult_open and review.consult_at is None
    assert review.specialist_id is not None
    await scenario.submit_report(handle, services, review.specialist_id)
    delivered = await scenario.until(ts_env, handle, Stage.REPORT_DELIVERED)
    assert delivered.consult_open and delivered.consult_at is None

    slot = (await ts_env.get_current_time()) + timedelta(days=2)
    await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="member:BOOK-1"))
    booked = await scenario.status(handle)
    assert booked.consult_pending and booked.consult_at == slot
    assert not booked.consult_open  # one booking at a time, as the validator says
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="member:BOOK-1"))

    await handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="coordinator"))
    held = await scenario.status(handle)
    assert held.consult_at is None and held.consult_open
