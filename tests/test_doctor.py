"""The member's treating doctor on the time-skipping server: named before the report, the doctor
is emailed the report's page when it is delivered; their call request reaches the desk; once the
member withdraws the consent, the doctor can ask nothing more. A doctor named after the report
is emailed at once."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models.case import Stage
from models.doctor import AskDoctorCall, ShareWithDoctor, WithdrawDoctor
from models.records import ProviderSheet
from tests import scenario
from tests.test_records_gathering import mail_to, text
from worker import Services
from workflows.case.doctor import CALL
from workflows.smo_case import SmoCaseWorkflow

DOCTOR = "dr.sok@calmette.example.com"


def doctor_sheet(services: Services, case_id: str, email: str = DOCTOR) -> str:
    sheet = ProviderSheet(name="Dr Sok Dara, Calmette Hospital", email=email)
    return services.store.put_bytes(sheet.model_dump_json().encode(), case_id).doc_id


async def test_the_doctor_gets_the_report_asks_a_call_and_loses_it_with_the_consent(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    case_id = "KH-DOCTOR-1"
    handle = await scenario.start(ts_env.client, services.settings, scenario.case_input(services, case_id))
    review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    assert review.specialist_id
    sheet = doctor_sheet(services, case_id)
    share = ShareWithDoctor(sheet_doc_id=sheet, by=f"member:{case_id}")
    await handle.execute_update(SmoCaseWorkflow.share_with_doctor, share)
    with pytest.raises(WorkflowUpdateFailedError) as twice:
        await handle.execute_update(SmoCaseWorkflow.share_with_doctor, share)
    assert "withdraw that first" in str(twice.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as early:
        await handle.execute_update(SmoCaseWorkflow.ask_doctor_call, AskDoctorCall(by="doctor"))
    assert "needs REPORT_DELIVERED or CONSULT" in str(early.value.cause)
    assert mail_to(services, case_id, DOCTOR) == []  # nothing to read yet

    await scenario.submit_report(handle, services, review.specialist_id)
    await scenario.until(ts_env, handle, Stage.REPORT_DELIVERED)
    await scenario.settled(handle)
    (email,) = mail_to(services, case_id, DOCTOR)
    assert f"/portal/doctors/{case_id}/{sheet[:16]}/" in text(email) and "Dr Sok Dara" in text(email)

    ack = await handle.execute_update(SmoCaseWorkflow.ask_doctor_call, AskDoctorCall(by="doctor"))
    assert ack.detail == "the desk will arrange the call"
    asked = await scenario.settled(handle)
    assert asked.attention == CALL and asked.doctor is not None and asked.doctor.calls_asked == 1
    assert any(CALL in text(m) for m in mail_to(services, case_id, services.settings.coordinator_email))

    await handle.execute_update(SmoCaseWorkflow.withdraw_doctor, WithdrawDoctor(by=f"member:{case_id}"))
    withdrawn = await scenario.status(handle)
    assert withdrawn.doctor is not None and not withdrawn.doctor.live
    for update, arg in (
        (SmoCaseWorkflow.ask_doctor_call, AskDoctorCall(by="doctor")),
        (SmoCaseWorkflow.withdraw_doctor, WithdrawDoctor(by=f"member:{case_id}")),
    ):
        with pytest.raises(WorkflowUpdateFailedError) as gone:
            await handle.execute_update(update, arg)  # type: ignore[arg-type]
        assert "not shared with a treating doctor" in str(gone.value.cause)

    # Another doctor, named after the report: emailed at once.
    other = "dr.chan@royal.example.com"
    share = ShareWithDoctor(sheet_doc_id=doctor_sheet(services, case_id, other), by=f"member:{case_id}")
    await handle.execute_update(SmoCaseWorkflow.share_with_doctor, share)
    await scenario.settled(handle)
    assert len(mail_to(services, case_id, other)) == 1 and len(mail_to(services, case_id, DOCTOR)) == 1
