"""Helpers that drive a case the way a coordinator would, for the scenario tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from models.case import (
    TERMINAL_STAGES,
    AddRecords,
    CaseInput,
    CaseStatus,
    CompleteRecords,
    DocumentRef,
    EligibilityFacts,
    RecordType,
    Stage,
    SubmitReport,
    case_id_from_workflow_id,
    workflow_id_for,
)
from models.consent import GiveConsent
from models.intake import PatientIntake, life_assured_ref
from models.settings import Settings
from tests.polling import DEADLINE, eventually
from worker import Services
from workflows.smo_case import SmoCaseWorkflow

PATIENT = "Sokha Chan"
DIAGNOSIS = "invasive ductal carcinoma of the left breast"
POLICIES = {"prudential-kh": "KH-DEMO-0001", "assist-america": "AA-DEMO-0001"}
Handle = WorkflowHandle[SmoCaseWorkflow, Any]
# The stages a case never leaves (a coordinator may still override an INELIGIBLE answer).
ENDED = TERMINAL_STAGES - {Stage.INELIGIBLE}


def intake(program: str = "prudential-kh", icd10: str = "C50.912", **kw: Any) -> PatientIntake:
    fields: dict[str, Any] = {
        "patient_name": PATIENT,
        "date_of_birth": date(1979, 4, 12),
        "email": "sokha.chan@example.com",
        "phone": "+855 12 345 678",
        "diagnosis_text": DIAGNOSIS,
        "icd10": icd10,
        "policy_number": POLICIES[program],
    } | kw
    return PatientIntake(**fields)


# The time-skipping test server skips time while a local activity holds a workflow task (it
# does not see them), and a run that continued as new meanwhile can lose its end there. The
# scenarios on it run without the read model's writes; tests/test_read_model.py runs the read
# model on the real dev server.
def case_input(
    services: Services,
    case_id: str,
    program: str = "prudential-kh",
    *,
    icd10: str = "C50.912",
    facts: EligibilityFacts | None = None,
    patient: PatientIntake | None = None,
    **kw: Any,
) -> CaseInput:
    p = patient or intake(program, icd10)
    stored = services.store.put_intake(p, case_id)
    key = services.settings.hash_key.get_secret_value().encode()
    return CaseInput(
        case_id=case_id,
        program=program,
        policy_number=p.policy_number,
        life_assured_ref=life_assured_ref(key, p.policy_number, p.patient_name, p.date_of_birth),
        intake_doc_id=stored.doc_id,
        icd10=p.icd10,
        facts=facts or EligibilityFacts(),
        opened_by="coordinator",
        **({"read_model": False} | kw),
    )


async def start(client: Client, settings: Settings, inp: CaseInput) -> Handle:
    return await client.start_workflow(
        SmoCaseWorkflow.run, inp, id=workflow_id_for(inp.case_id), task_queue=settings.task_queue
    )


async def status(handle: Handle, timeout: float = 60.0) -> CaseStatus:
    """The case's `status` query, asked again if the server lets it lapse.

    The time-skipping test server can drop a query it buffered behind the workflow task
    that continued the run as new; each try has a deadline of its own, well inside `timeout`.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await handle.query(SmoCaseWorkflow.status, rpc_timeout=timedelta(seconds=10))
        except RPCError as err:
            # A lapse shows as DEADLINE_EXCEEDED from the server or as CANCELLED ("Timeout
            # expired") when the client's own rpc_timeout fires first.
            lapsed = err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED)
            if not lapsed or loop.time() > deadline:
                raise


def _timeline(current: CaseStatus) -> list[tuple[str, str, str]]:
    return [(t.at.isoformat(), t.event, t.detail) for t in current.timeline]


async def when(
    handle: Handle,
    test: Callable[[CaseStatus], bool],
    what: str,
    *,
    timeout: float = DEADLINE,
    hopeless: Callable[[CaseStatus], bool] | None = None,
) -> CaseStatus:
    """Until the case's status passes `test`, without skipping time (queries don't skip it)."""
    return await eventually(
        lambda: status(handle),
        test,
        within=timeout,
        hopeless=hopeless,
        what=lambda current: f"{handle.id}: never saw {what}; stage {current.stage}, {_timeline(current)}",
    )


async def until(
    env: WorkflowEnvironment | None, handle: Handle, stage: Stage, timeout: float = DEADLINE
) -> CaseStatus:
    """Until the case is in `stage`; a case that ended in another stage fails at once."""
    return await when(
        handle,
        lambda current: current.stage is stage,
        f"stage {stage}",
        timeout=timeout,
        hopeless=lambda current: current.stage in ENDED,
    )


async def noted(handle: Handle, event: str, occurrence: int = 1) -> CaseStatus:
    """Until the case's timeline holds `event` (its `occurrence`-th one)."""
    return await when(
        handle,
        lambda current: sum(t.event == event for t in current.timeline) >= occurrence,
        f"{event!r} #{occurrence}",
    )


async def settled(
    handle: Handle,
    timeout: float = DEADLINE,
    *,
    ask: Callable[[], Awaitable[CaseStatus | None]] | None = None,
) -> CaseStatus:
    """Until the side effects the updates queued (notices, charges) have gone out.

    `ask` answers the case's status, or None when there was no answer this time.
    """

    async def answer() -> CaseStatus | None:
        try:
            return await status(handle)
        except RPCError:
            # A query finds no worker to answer it while one is killed and another takes
            # over (the server gives up on it); ask again until the deadline.
            return None

    current = await eventually(
        ask or answer,
        lambda current: current is not None and not current.pending,
        within=timeout,
        what=lambda current: f"{handle.id}: still pending: {current.pending if current else 'no answer'}",
    )
    assert current is not None
    return current


def case_of(handle: Handle) -> str:
    """The id of the case a handle's workflow runs."""
    return case_id_from_workflow_id(handle.id)


def upload(services: Services, content: bytes, record_type: RecordType, case_id: str) -> DocumentRef:
    """A file stored for the case `case_id`, as the API's upload does: what the case is sent."""
    stored = services.store.put_bytes(content, case_id)
    return DocumentRef(doc_id=stored.doc_id, record_type=record_type, size=stored.size)


def required_records(services: Services, program: str, case_id: str, tag: str = "") -> list[DocumentRef]:
    terms = services.programs[program].terms()
    content = [(f"{PATIENT}: {t.value} {tag}".encode(), t) for t in terms.required_records]
    return [upload(services, data, record_type, case_id) for data, record_type in content]


def signed_consent(services: Services, case_id: str, by: str = "coordinator") -> GiveConsent:
    """A coordinator's attestation: the member's signed form stored, as `smo consent record` does."""
    form = upload(
        services, f"{PATIENT}: signed consent to send records abroad".encode(), RecordType.CONSENT, case_id
    )
    return GiveConsent.signed_form(form.doc_id, form.size, by)


async def attest_consent(handle: Handle, services: Services, by: str = "coordinator") -> None:
    """Record the member's consent to the transfer unless the case already holds it."""
    if (await status(handle)).consent.given:
        return
    await handle.execute_update(SmoCaseWorkflow.give_consent, signed_consent(services, case_of(handle), by))


async def to_review(
    env: WorkflowEnvironment | None, handle: Handle, services: Services, program: str
) -> CaseStatus:
    await until(env, handle, Stage.GATHERING_RECORDS)
    await handle.execute_update(
        SmoCaseWorkflow.add_record,
        AddRecords(documents=required_records(services, program, case_of(handle)), by="coordinator"),
    )
    # Records go abroad only with the member's consent: the desk attests the signed form.
    await attest_consent(handle, services)
    await handle.execute_update(SmoCaseWorkflow.mark_records_complete, CompleteRecords(by="coordinator"))
    await until(env, handle, Stage.UNDER_REVIEW)
    return await when(handle, lambda current: current.sla.due_at is not None, "an SLA deadline")


async def submit_report(handle: Handle, services: Services, specialist_id: str) -> None:
    doc = upload(services, f"Second opinion for {PATIENT}".encode(), RecordType.SMO_REPORT, case_of(handle))
    await handle.execute_update(
        SmoCaseWorkflow.submit_report,
        SubmitReport(document=doc, specialist_id=specialist_id, by=specialist_id),
    )


async def runs(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """The history of every run of a case, first to last, walking back along continue-as-new."""
    chain = [await client.get_workflow_handle(workflow_id).fetch_history()]
    started = chain[0].events[0].workflow_execution_started_event_attributes
    while previous := started.continued_execution_run_id:
        chain.insert(0, await client.get_workflow_handle(workflow_id, run_id=previous).fetch_history())
        started = chain[0].events[0].workflow_execution_started_event_attributes
    return chain


def payload_bytes(history: Any) -> int:
    return sum(len(p.data) for p in payloads_of(history))


def payloads_of(history: Any) -> list[Any]:
    """Every Payload in a history, found by walking the protobuf messages."""
    from google.protobuf.message import Message
    from temporalio.api.common.v1 import Payload

    found: list[Any] = []

    def walk(msg: Message) -> None:
        if isinstance(msg, Payload):
            found.append(msg)
            return
        for field, value in msg.ListFields():
            if field.message_type is None:
                continue
            if isinstance(value, Message):
                walk(value)
                continue
            items = value.values() if hasattr(value, "values") and callable(value.values) else value
            for item in items:
                if isinstance(item, Message):
                    walk(item)

    for event in history.events:
        walk(event)
    return found
