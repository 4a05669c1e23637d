"""The demo case: Sokha Chan's second opinion, driven through every stage against the service."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine
from temporalio.client import Client

import service
from models.case import (
    BookConsult,
    CaseResult,
    CaseStatus,
    Close,
    CompleteConsult,
    CompleteRecords,
    EligibilityFacts,
    OverrideEligibility,
    RecordType,
    Stage,
    SubmitReport,
)
from models.intake import PatientIntake
from models.settings import Settings
from runtime.documents import DocumentStore
from starter.cli_common import at_desk
from workflows.smo_case import SmoCaseWorkflow

DEMO_POLICIES = {"prudential-kh": "KH-DEMO-0001", "assist-america": "AA-DEMO-0001"}

DEMO_RECORDS = {
    RecordType.OPERATIVE_REPORT: "Operative report: left breast lumpectomy with sentinel node biopsy.",
    RecordType.BIOPSY_REPORT: "Core needle biopsy, left breast 2 o'clock: invasive ductal carcinoma,"
    " grade 2, ER+/PR+/HER2-.",
    RecordType.DISCHARGE_SUMMARY: "Discharge summary: uneventful recovery, discharged day 2.",
    RecordType.TREATMENT_PLAN: "Treating oncologist's plan: adjuvant chemotherapy then radiotherapy"
    " and five years of endocrine therapy.",
}


def demo_intake(program: str) -> PatientIntake:
    return PatientIntake(
        patient_name="Sokha Chan",
        date_of_birth=date(1979, 4, 12),
        email="sokha.chan@example.com",
        phone="+855 12 345 678",
        diagnosis_text="invasive ductal carcinoma of the left breast",
        icd10="C50.912",
        policy_number=DEMO_POLICIES[program],
        treating_doctor="Dr. Vannak Sok",
    )


async def run_demo(
    client: Client,
    settings: Settings,
    store: DocumentStore,
    *,
    program: str = "prudential-kh",
    say: Callable[[str], None] = print,
    engine: Engine | None = None,
    until_report: bool = False,
) -> CaseResult:
    """Drive the demo case to CLOSED (or, `until_report`, leave it open with its report out).

    With the case DB's `engine`, the consult is booked as a coordinator would: the first slot
    that fits both sides, checked and held by the case service.
    """
    if program not in DEMO_POLICIES:
        raise service.UserError(f"no demo for program {program!r}; try {', '.join(DEMO_POLICIES)}")
    by = "demo-coordinator"
    intake = demo_intake(program)
    case = await service.open_case(
        client,
        settings,
        store,
        program=program,
        intake=intake,
        facts=EligibilityFacts(),
        opened_by=by,
        treating_institution="Calmette Hospital",
    )
    say(f"opened case {case.case_id} ({program}): {case.stage.value}")
    handle = service.handle_for(client, case.case_id)
    if case.stage is Stage.INELIGIBLE:
        reasons = "; ".join(
            f"{r.code}: {r.text}" for r in (case.eligibility.reasons if case.eligibility else [])
        )
        say(f"refused: {reasons}")
        say("the demo patient has used this program before: overriding as coordinator")
        await handle.execute_update(
            SmoCaseWorkflow.override_eligibility,
            OverrideEligibility(reason="demo re-run on the same demo patient", by=by),
        )
        case = await service.wait_for_stage(client, case.case_id, [Stage.GATHERING_RECORDS])

    folder = settings.home / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    for record_type in case.records.required:
        path = folder / f"{record_type.value}.txt"
        path.write_text(f"Patient: Sokha Chan\n{DEMO_RECORDS.get(record_type, record_type.value)}\n")
        await service.add_records(client, store, case.case_id, [path], record_type, by)
    # The records go to a US specialist: the coordinator attests the member's signed consent
    # form first, as `smo consent record` does.
    form = folder / "signed-consent.txt"
    form.write_text("Patient: Sokha Chan\nI agree that my medical records may be sent abroad.\n")
    signed = await service.store_files(store, [form], RecordType.CONSENT, case_id=case.case_id)
    await service.attest_consent(client, case.case_id, signed[0][0], by)
    say("consent to send records abroad attested with the signed form")
    await handle.execute_update(SmoCaseWorkflow.mark_records_complete, CompleteRecords(by=by))
    say("records complete")

    review = await _wait_for_deadline(client, case.case_id)
    say(f"assigned to {review.specialist_id} ({review.specialty}); report due {at_desk(review.sla.due_at)}")

    report = folder / "smo-report.txt"
    report.write_text(
        "Second opinion for Sokha Chan: the diagnosis of invasive ductal carcinoma is confirmed;"
        " the proposed adjuvant plan is appropriate.\n"
    )
    written = await service.store_files(store, [report], RecordType.SMO_REPORT, case_id=case.case_id)
    assert review.specialist_id is not None
    await handle.execute_update(
        SmoCaseWorkflow.submit_report,
        SubmitReport(document=written[0][0], specialist_id=review.specialist_id, by=review.specialist_id),
    )
    await service.wait_for_stage(client, case.case_id, [Stage.REPORT_DELIVERED])
    say("report delivered to the customer")
    if until_report:
        say(f"case {case.case_id} stays open: try `smo consult slots {case.case_id}`")
        return CaseResult(case_id=case.case_id, stage=Stage.REPORT_DELIVERED, reports=1, charges=0)

    if await _book_consult(client, engine, settings, case.case_id, by, say):
        await handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by=by))
    await handle.execute_update(SmoCaseWorkflow.close, Close(by=by))
    result = await handle.result()
    say(f"case {result.case_id}: {result.stage.value}")
    return result


async def _book_consult(
    client: Client,
    engine: Engine | None,
    settings: Settings,
    case_id: str,
    by: str,
    say: Callable[[str], None],
) -> bool:
    """Book the telephone consult: the first slot that fits, through the case service."""
    if engine is None:  # a test server's skipped clock: any future time the case accepts
        slot = datetime.now(UTC) + timedelta(days=2)
        handle = service.handle_for(client, case_id)
        ack = await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by=by))
        say(f"telephone consult booked ({ack.detail})")
        return True
    found = await service.consult_slots(client, engine, settings, case_id)
    if not found.slots:
        say(f"no consult slot fits {found.specialist_id} in the next 10 working days: not booked")
        return False
    first = found.slots[0]
    booked = await service.book_consult(client, engine, settings, case_id, first.start, by)
    detail = booked.detail if booked else "accepted"
    say(f"telephone consult booked for {first.member_local} = {first.specialist_local} ({detail})")
    return True


async def _wait_for_deadline(client: Client, case_id: str) -> CaseStatus:
    """Under review, with the deadline the specialist was given."""
    for _ in range(300):
        current = await service.status(client, case_id)
        if current.stage is Stage.UNDER_REVIEW and current.sla.due_at is not None:
            return current
        await asyncio.sleep(0.1)
    raise service.UserError(f"case {case_id} has no SLA deadline yet")
