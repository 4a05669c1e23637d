"""A case's life over a Temporal client: find it, open it, ask its status, wait for a stage.

Every call to the Temporal server is bounded (`RPC_TIMEOUT`): an edge answers, it does not
hang. Opening is idempotent: the same case with the same details is the same case, and a
definite refusal removes the details sheet this call stored, so it leaves no PHI behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from models import search
from models.case import (
    CaseInput,
    CaseResult,
    CaseStatus,
    DocumentRef,
    EligibilityFacts,
    Stage,
    workflow_id_for,
)
from models.intake import PatientIntake, life_assured_ref
from models.program import Program, get_program
from models.settings import Settings
from runtime.documents import DocumentStore
from service.errors import CaseConflict, NoCase, UserError
from workflows.smo_case import SmoCaseWorkflow

# Every call to the Temporal server is bounded: the API answers, it does not hang.
RPC_TIMEOUT = timedelta(seconds=30)

# Answers after which the case certainly did not start (after a timeout it may have).
DEFINITE_REFUSALS = frozenset(
    {
        RPCStatusCode.ALREADY_EXISTS,
        RPCStatusCode.INVALID_ARGUMENT,
        RPCStatusCode.NOT_FOUND,
        RPCStatusCode.PERMISSION_DENIED,
        RPCStatusCode.FAILED_PRECONDITION,
    }
)


def handle_for(client: Client, case_id: str) -> WorkflowHandle[SmoCaseWorkflow, CaseResult]:
    return client.get_workflow_handle_for(SmoCaseWorkflow.run, workflow_id_for(case_id))


def program_of(desc: WorkflowExecutionDescription) -> str | None:
    return desc.typed_search_attributes.get(search.PROGRAM)


async def describe(client: Client, case_id: str) -> WorkflowExecutionDescription | None:
    """The case's run as the server describes it, or None when there is no such case."""
    try:
        return await handle_for(client, case_id).describe(rpc_timeout=RPC_TIMEOUT)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


def check_running(case_id: str, desc: WorkflowExecutionDescription) -> None:
    """Refuse a change to a case that has finished (closed, cancelled, failed ...)."""
    if desc.status != WorkflowExecutionStatus.RUNNING:
        state = desc.status.name.lower() if desc.status else "finished"
        raise CaseConflict(f"case {case_id} is {state}; it takes no more changes")


async def ensure_running(client: Client, case_id: str) -> None:
    """Refuse before anything is stored: the case must exist and still be running."""
    desc = await describe(client, case_id)
    if desc is None:
        raise NoCase(f"no case {case_id}")
    check_running(case_id, desc)


async def status(client: Client, case_id: str) -> CaseStatus:
    try:
        return await handle_for(client, case_id).query(SmoCaseWorkflow.status, rpc_timeout=RPC_TIMEOUT)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NoCase(f"no case {case_id}") from err
        raise


async def wait_for_stage(
    client: Client, case_id: str, stages: Sequence[Stage], timeout: float = 60.0, poll: float = 0.2
) -> CaseStatus:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        current = await status(client, case_id)
        if current.stage in stages:
            return current
        if asyncio.get_running_loop().time() > deadline:
            wanted = " or ".join(s.value for s in stages)
            raise CaseConflict(f"case {case_id} is {current.stage.value}, not {wanted}, after {timeout}s")
        await asyncio.sleep(poll)


async def _settled(client: Client, case_id: str, timeout: float = 60.0) -> CaseStatus:
    """The case once intake and eligibility are behind it."""
    return await wait_for_stage(
        client, case_id, [s for s in Stage if s not in (Stage.INTAKE, Stage.ELIGIBILITY)], timeout=timeout
    )


async def settled_or_current(client: Client, case_id: str, timeout: float) -> CaseStatus:
    """The case after eligibility, or as it stands when `timeout` seconds have passed."""
    try:
        return await _settled(client, case_id, timeout)
    except CaseConflict:
        return await status(client, case_id)


def check_program_input(programs: Mapping[str, Program], program: str, exclusions: Sequence[str]) -> None:
    """Refuse an unknown program or exclusion alias before anything is stored or started."""
    try:
        rules = get_program(programs, program)
    except LookupError as exc:
        raise UserError(str(exc).strip("'\"")) from None
    unknown = [e for e in exclusions if not (rules.resolve_exclusion(e) or rules.is_permitted(e))]
    if unknown:
        raise UserError(
            f"unknown exclusion {', '.join(unknown)} for {program};"
            f" known: {', '.join(rules.exclusion_aliases())}"
        )


def new_case_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"SMO-{now:%y%m%d}-{secrets.token_hex(3).upper()}"


def request_case_id(hash_key: bytes, form: str, day: str) -> str:
    """The case a copy of the public form opens: the same form sent again reaches the same case.

    `form` is the form's random nonce and `day` (YYMMDD) the day it was shown; the key keeps
    anyone from choosing the id of a case they did not request.
    """
    digest = hmac.new(hash_key, f"request-case|{day}|{form}".encode(), hashlib.sha256).hexdigest()
    return f"SMO-{day}-{digest[:10].upper()}"


async def open_case(
    client: Client,
    settings: Settings,
    store: DocumentStore,
    *,
    program: str,
    intake: PatientIntake,
    facts: EligibilityFacts,
    opened_by: str,
    case_id: str | None = None,
    treating_institution: str | None = None,
    follow_up_of: str | None = None,
    override_reason: str | None = None,
    wait: bool = True,
    consent_required: bool = False,
    self_service: bool = False,
    form_records: Sequence[DocumentRef] = (),
) -> CaseStatus:
    hash_key = settings.hash_key.get_secret_value()
    if not hash_key:
        raise UserError("SMO_HASH_KEY is not set")
    case_id = case_id or new_case_id()
    # Everything is validated before any PHI is stored; the sheet's id is filled in after.
    draft = CaseInput(
        case_id=case_id,
        program=program,
        policy_number=intake.policy_number,
        life_assured_ref=life_assured_ref(
            hash_key.encode(), intake.policy_number, intake.patient_name, intake.date_of_birth
        ),
        intake_doc_id="0" * 64,
        icd10=intake.icd10,
        facts=facts,
        treating_institution=treating_institution,
        opened_by=opened_by,
        follow_up_of=follow_up_of,
        override_reason=override_reason,
        consent_required=consent_required or settings.consent_required,
        self_service=self_service,
        form_records=list(form_records),
        questions=len(intake.questions),
        survey=True,
    )
    # Opening the same case twice is idempotent; the same id with other details is a mistake.
    sheet_id = hashlib.sha256(intake.model_dump_json().encode()).hexdigest()
    existing = await describe(client, case_id)
    if existing is not None:
        if existing.status != WorkflowExecutionStatus.RUNNING:
            raise CaseConflict(f"case id {case_id} is taken by a finished case; choose another")
        current = await status(client, case_id)
        if current.intake_doc_id != sheet_id:
            raise CaseConflict(f"case {case_id} is already open with different details")
        return current if not wait else await _settled(client, case_id)
    stored = await asyncio.to_thread(store.put_intake, intake, case_id)
    inp = draft.model_copy(update={"intake_doc_id": stored.doc_id})
    try:
        await client.start_workflow(
            SmoCaseWorkflow.run,
            inp,
            id=workflow_id_for(case_id),
            task_queue=settings.task_queue,
            # Opening the same case twice is idempotent; a finished case id is never reused.
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(search.STAGE, Stage.INTAKE.value),
                    SearchAttributePair(search.PROGRAM, program),
                ]
            ),
            static_summary=f"SMO case {case_id} · {program}",
            static_details=f"Second Medical Opinion case {case_id} under program {program}."
            f" Staff page: [{case_id}]({settings.base_url}/portal/staff/cases/{case_id})",
            rpc_timeout=RPC_TIMEOUT,
        )
    except (WorkflowAlreadyStartedError, RPCError) as err:
        # Only a definite refusal removes the sheet: after a timeout the case may have started.
        definite = isinstance(err, WorkflowAlreadyStartedError) or err.status in DEFINITE_REFUSALS
        if definite and stored.created:
            await asyncio.to_thread(store.delete, case_id, stored.doc_id)
        raise
    # Two calls that raced past the look-up above: the one that lost found the case started
    # (USE_EXISTING) and must not take it for its own when the details differ.
    current = await status(client, case_id)
    if current.intake_doc_id != stored.doc_id:
        if stored.created:
            await asyncio.to_thread(store.delete, case_id, stored.doc_id)
        raise CaseConflict(f"case {case_id} is already open with different details")
    return current if not wait else await _settled(client, case_id)
