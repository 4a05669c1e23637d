"""The versioned JSON API (`/api/v1/...`): one handler per coordinator or supervisor action.

Every case-changing call is the same workflow update the CLI used to send, so a refusal
keeps the validator's exact words (409). Who acts comes from the token, never the body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.storage import DocumentStore, StoredDocument
from models import search
from models.api import (
    ActionResult,
    AssignBody,
    AuditEntry,
    AuditTrail,
    BookConsultBody,
    CaseList,
    CaseSummary,
    CompleteRecordsBody,
    DeclineBody,
    Empty,
    OpenCase,
    Outbox,
    OutboxMessage,
    ReasonBody,
    RequestInfoBody,
    Roster,
    SpecialistEntry,
)
from models.case import (
    AddRecords,
    AssignSpecialist,
    BookConsult,
    Cancel,
    CaseStatus,
    Close,
    CompleteConsult,
    CompleteRecords,
    Decline,
    DocumentRef,
    OverrideEligibility,
    RecordType,
    RequestInfo,
    RequestThirdOpinion,
    Stage,
    SubmitReport,
    SupplyInfo,
    UpdateDetails,
)
from models.consent import GiveConsent
from models.db import Specialist
from models.intake import PatientIntake
from models.portal import SendPortalLink
from models.program import Program
from models.settings import Settings
from runtime.db import audit, audit_trail
from runtime.outbox import read_outbox
from starter import ops
from web.errors import ApiError
from web.spec import COORDINATORS, EVERYONE, SUPERVISORS, Route, Upload
from web.tokens import Principal
from web.uploads import UploadRefused, check_file_name, store_stream
from workflows.smo_case import SmoCaseWorkflow

MAX_FILES = 50


@dataclass
class ApiServices:
    """What the handlers use; the Temporal client is connected on first use."""

    settings: Settings
    engine: Engine
    store: DocumentStore
    programs: Mapping[str, Program]
    connect: Callable[[], Awaitable[Client]]
    outbox_dir: Path | None = None  # only in development
    update_wait: float = 10.0  # seconds an update's handler may take before the call answers 202
    _client: Client | None = None
    _connecting: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def client(self) -> Client:
        async with self._connecting:  # the first requests share one connection
            if self._client is None:
                self._client = await self.connect()
        return self._client


@dataclass
class Call:
    """One authenticated request, its validated inputs and the case it is about."""

    request: web.Request
    services: ApiServices
    who: Principal
    body: Any = None
    query: Any = None
    case_id: str = ""
    case: WorkflowExecutionDescription | None = None
    status: int | None = None  # overrides the route's status (202 for an update still running)

    def audit(self, action: str, outcome: str, detail: str = "") -> Awaitable[None]:
        return asyncio.to_thread(
            audit,
            self.services.engine,
            actor=self.who.name,
            action=action,
            outcome=outcome,
            case_id=self.case_id or None,
            detail=detail,
        )


class ListQuery(BaseModel):
    stage: Stage | None = None
    program: str | None = Field(default=None, max_length=40)
    overdue: bool = False
    due_within: str | None = Field(default=None, max_length=20, description="e.g. 2d, 36h, 1w")
    limit: int = Field(default=100, ge=1, le=1000)


class AuditQuery(BaseModel):
    action: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=200, ge=1, le=100_000)


class RecordsQuery(BaseModel):
    record_type: RecordType


class SupplyQuery(BaseModel):
    record_type: RecordType = RecordType.OTHER


class ReportQuery(BaseModel):
    specialist_id: str = Field(min_length=1, max_length=40)


class SpecialistQuery(BaseModel):
    specialty: str | None = Field(default=None, max_length=40)


class OutboxQuery(BaseModel):
    case_id: str | None = Field(default=None, max_length=64)


def _running(call: Call) -> None:
    if call.case is not None and call.case.status != WorkflowExecutionStatus.RUNNING:
        state = call.case.status.name.lower() if call.case.status else "finished"
        raise ApiError(409, f"case {call.case_id} is {state}; it takes no more changes")


async def _update(call: Call, update: Any, arg: Any, action: str) -> ActionResult:
    """Send one update and audit the attempt with the token's user and the outcome.

    The validators answer before the update is accepted, so their refusals come back at once.
    The handler may then wait on mail or billing; the call waits for it only `update_wait`
    seconds and otherwise answers 202: accepted, still running, the case finishes it.
    """
    client = await call.services.client()
    try:
        running = await ops.handle_for(client, call.case_id).start_update(
            update, arg, wait_for_stage=WorkflowUpdateStage.ACCEPTED, rpc_timeout=ops.RPC_TIMEOUT
        )
        try:
            ack = await running.result(rpc_timeout=timedelta(seconds=call.services.update_wait))
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            await call.audit(action, "accepted", "in progress")
            call.status = 202
            return ActionResult(case_id=call.case_id, stage=None, detail="accepted; in progress", done=False)
    except Exception as exc:
        await call.audit(action, "refused", ops.explain(exc) or type(exc).__name__)
        raise
    await call.audit(action, "accepted", ack.detail)
    return ActionResult(case_id=call.case_id, stage=ack.stage, detail=ack.detail)


async def _store_parts(call: Call, upload: Upload) -> list[StoredDocument]:
    """Stream each `file` part into the store; on any refusal remove what this call added."""
    if upload.min_files == 0 and not call.request.body_exists:
        return []
    try:
        reader = await call.request.multipart()
    except (AssertionError, ValueError, KeyError):
        raise ApiError(422, "send the files as multipart/form-data parts named 'file'") from None
    stored: list[StoredDocument] = []
    try:
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader) or part.name != "file":
                raise ApiError(422, "send the files as multipart/form-data parts named 'file'")
            try:
                check_file_name(part.filename)
            except UploadRefused as exc:
                raise ApiError(422, str(exc)) from None
            if len(stored) >= upload.max_files:
                raise ApiError(422, f"at most {upload.max_files} files per call")
            stored.append(await store_stream(call.services.store, part))
    except ApiError:
        await _discard(call.services.store, stored)
        raise
    except (ValueError, HttpProcessingError):  # a malformed multipart body or part header
        await _discard(call.services.store, stored)
        raise ApiError(422, "the multipart body is malformed") from None
    except BaseException:
        await _discard(call.services.store, stored)
        raise
    if len(stored) < upload.min_files:
        await _discard(call.services.store, stored)
        raise ApiError(422, f"send at least {upload.min_files} file(s)")
    return stored


async def _discard(store: DocumentStore, stored: list[StoredDocument]) -> None:
    for doc in stored:
        if doc.created:
            await asyncio.to_thread(store.delete, doc.doc_id)


async def _with_files(
    call: Call,
    upload: Upload,
    record_type: RecordType,
    send: Callable[[list[DocumentRef]], Awaitable[ActionResult]],
) -> ActionResult:
    _running(call)
    stored = await _store_parts(call, upload)
    refs = [DocumentRef(doc_id=s.doc_id, record_type=record_type, size=s.size) for s in stored]
    try:
        return await send(refs)
    except Exception as exc:
        # Refused by the case: what this call stored goes too. After a timeout the update may
        # still be applied, so the files stay.
        if ops.is_refusal(exc):
            await _discard(call.services.store, stored)
        raise


# ---- handlers --------------------------------------------------------------------------


async def open_case(call: Call) -> CaseStatus:
    body: OpenCase = call.body
    if not call.who.may_see(body.program):
        raise ApiError(403, f"your token is not for program {body.program}")
    if body.case_id and call.who.programs:
        # A chosen id that belongs to a case out of scope is refused without saying more.
        try:
            desc = await ops.handle_for(await call.services.client(), body.case_id).describe(
                rpc_timeout=ops.RPC_TIMEOUT
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        else:
            if not call.who.may_see(ops.program_of(desc)):
                raise ApiError(409, f"case id {body.case_id} is not available; choose another")
    ops.check_program_input(call.services.programs, body.program, sorted(body.facts.exclusions))
    client = await call.services.client()
    status = await ops.open_case(
        client,
        call.services.settings,
        call.services.store,
        program=body.program,
        intake=body.details,
        facts=body.facts,
        opened_by=call.who.name,
        case_id=body.case_id,
        treating_institution=body.treating_institution,
        follow_up_of=body.follow_up_of,
        override_reason=body.override_reason,
        wait=False,
    )
    # The eligibility answer, when the case gives it within the bound; else the stage it is at.
    status = await ops.settled_or_current(client, status.case_id, call.services.update_wait)
    call.case_id = status.case_id
    await call.audit("case.open", status.stage.value)
    return status


async def case_status(call: Call) -> CaseStatus:
    return await ops.status(await call.services.client(), call.case_id)


async def list_cases(call: Call) -> CaseList:
    q: ListQuery = call.query
    query = ops.list_query(
        stage=q.stage,
        program=q.program,
        overdue=q.overdue,
        due_within=ops.parse_duration(q.due_within) if q.due_within else None,
    )
    if call.who.programs:  # the scope is part of the visibility query, not a filter afterwards
        query += " AND SmoProgram IN (" + ", ".join(f"'{p}'" for p in sorted(call.who.programs)) + ")"
    client = await call.services.client()
    cases = []
    async for wf in client.list_workflows(query, limit=q.limit):
        sa = wf.typed_search_attributes
        due = sa.get(search.SLA_DEADLINE)
        cases.append(
            CaseSummary(
                case_id=wf.id.removeprefix("smo-"),
                stage=sa.get(search.STAGE) or "",
                program=sa.get(search.PROGRAM) or "",
                specialty=sa.get(search.SPECIALTY) or "",
                sla_state=sa.get(search.SLA_STATE) or "",
                due_at=due.astimezone(UTC) if due else None,
                status=wf.status.name.lower() if wf.status else "",
            )
        )
    return CaseList(cases=cases)


def _trail(engine: Engine, case_id: str | None, action: str | None, limit: int) -> AuditTrail:
    rows = audit_trail(engine, case_id, action=action, limit=limit)
    return AuditTrail(
        events=[
            AuditEntry(
                at=r.at.replace(tzinfo=UTC) if r.at.tzinfo is None else r.at,
                case_id=r.case_id,
                actor=r.actor,
                action=r.action,
                outcome=r.outcome,
                detail=r.detail,
            )
            for r in rows
        ]
    )


async def case_audit(call: Call) -> AuditTrail:
    return await asyncio.to_thread(_trail, call.services.engine, call.case_id, None, 1000)


async def audit_all(call: Call) -> AuditTrail:
    if call.who.programs:
        raise ApiError(403, "the audit trail across cases needs a token for every program")
    q: AuditQuery = call.query
    return await asyncio.to_thread(_trail, call.services.engine, None, q.action, q.limit)


async def add_records(call: Call) -> ActionResult:
    q: RecordsQuery = call.query

    async def send(refs: list[DocumentRef]) -> ActionResult:
        arg = AddRecords(documents=refs, by=call.who.name)
        return await _update(call, SmoCaseWorkflow.add_record, arg, "records.add")

    return await _with_files(call, Upload(1, MAX_FILES), q.record_type, send)


async def complete_records(call: Call) -> ActionResult:
    b: CompleteRecordsBody = call.body
    arg = CompleteRecords(waive=b.waive, waive_reason=b.waive_reason, by=call.who.name)
    return await _update(call, SmoCaseWorkflow.mark_records_complete, arg, "records.complete")


async def assign_specialist(call: Call) -> ActionResult:
    b: AssignBody = call.body
    arg = AssignSpecialist(specialist_id=b.specialist_id, by=call.who.name)
    return await _update(call, SmoCaseWorkflow.assign_specialist, arg, "specialist.assign")


async def decline_specialist(call: Call) -> ActionResult:
    b: DeclineBody = call.body
    arg = Decline(specialist_id=b.specialist_id, reason=b.reason, by=call.who.name)
    return await _update(call, SmoCaseWorkflow.decline, arg, "specialist.decline")


async def request_info(call: Call) -> ActionResult:
    b: RequestInfoBody = call.body
    arg = RequestInfo(reason=b.reason, record_types=b.record_types, by=call.who.name)
    return await _update(call, SmoCaseWorkflow.request_more_info, arg, "info.request")


async def supply_info(call: Call) -> ActionResult:
    q: SupplyQuery = call.query

    async def send(refs: list[DocumentRef]) -> ActionResult:
        arg = SupplyInfo(documents=refs, by=call.who.name)
        return await _update(call, SmoCaseWorkflow.supply_info, arg, "info.supply")

    return await _with_files(call, Upload(0, MAX_FILES), q.record_type, send)


async def submit_report(call: Call) -> ActionResult:
    q: ReportQuery = call.query

    async def send(refs: list[DocumentRef]) -> ActionResult:
        arg = SubmitReport(document=refs[0], specialist_id=q.specialist_id, by=call.who.name)
        return await _update(call, SmoCaseWorkflow.submit_report, arg, "report.submit")

    return await _with_files(call, Upload(1, 1), RecordType.SMO_REPORT, send)


async def book_consult(call: Call) -> ActionResult:
    b: BookConsultBody = call.body
    arg = BookConsult(slot=b.slot, by=call.who.name)
    return await _update(call, SmoCaseWorkflow.book_consult, arg, "consult.book")


async def complete_consult(call: Call) -> ActionResult:
    arg = CompleteConsult(by=call.who.name)
    return await _update(call, SmoCaseWorkflow.complete_consult, arg, "consult.complete")


async def third_opinion(call: Call) -> ActionResult:
    arg = RequestThirdOpinion(by=call.who.name)
    return await _update(call, SmoCaseWorkflow.request_third_opinion, arg, "case.third_opinion")


async def close_case(call: Call) -> ActionResult:
    return await _update(call, SmoCaseWorkflow.close, Close(by=call.who.name), "case.close")


async def cancel_case(call: Call) -> ActionResult:
    b: ReasonBody = call.body
    arg = Cancel(reason=b.reason, by=call.who.name)
    return await _update(call, SmoCaseWorkflow.cancel, arg, "case.cancel")


async def override_eligibility(call: Call) -> ActionResult:
    b: ReasonBody = call.body
    arg = OverrideEligibility(reason=b.reason, by=call.who.name)
    return await _update(call, SmoCaseWorkflow.override_eligibility, arg, "eligibility.override")


async def update_details(call: Call) -> ActionResult:
    intake: PatientIntake = call.body
    _running(call)
    stored = await asyncio.to_thread(call.services.store.put_intake, intake)
    try:
        arg = UpdateDetails(intake_doc_id=stored.doc_id, by=call.who.name)
        return await _update(call, SmoCaseWorkflow.update_details, arg, "case.update_details")
    except Exception as exc:
        if ops.is_refusal(exc) and stored.created:  # a refused update leaves no PHI behind
            await asyncio.to_thread(call.services.store.delete, stored.doc_id)
        raise


async def send_portal_link(call: Call) -> ActionResult:
    arg = SendPortalLink(by=call.who.name)
    return await _update(call, SmoCaseWorkflow.send_portal_link, arg, "portal.link")


async def record_consent(call: Call) -> ActionResult:
    async def send(refs: list[DocumentRef]) -> ActionResult:
        arg = GiveConsent.signed_form(refs[0].doc_id, refs[0].size, call.who.name)
        return await _update(call, SmoCaseWorkflow.give_consent, arg, "consent.record")

    return await _with_files(call, Upload(1, 1), RecordType.CONSENT, send)


async def list_specialists(call: Call) -> Roster:
    q: SpecialistQuery = call.query

    def rows() -> list[Specialist]:
        with Session(call.services.engine) as session:
            query = select(Specialist)
            if q.specialty:
                query = query.where(Specialist.specialty == q.specialty)
            return list(session.exec(query))

    return Roster(
        specialists=[
            SpecialistEntry(
                specialist_id=r.specialist_id,
                name=r.name,
                specialty=r.specialty,
                board=r.board,
                board_certified=r.board_certified,
                capacity=r.capacity,
                affiliation=r.affiliation,
            )
            for r in await asyncio.to_thread(rows)
        ]
    )


async def outbox(call: Call) -> Outbox:
    directory = call.services.outbox_dir
    if directory is None:
        raise ApiError(404, "the outbox exists only in development (smo dev)")
    if call.who.programs:
        raise ApiError(403, "the outbox needs a token for every program")
    q: OutboxQuery = call.query
    messages = [
        OutboxMessage(to=str(m["To"]), subject=str(m["Subject"]), case_id=m.get("X-SMO-Case-Id"))
        for m in await asyncio.to_thread(read_outbox, directory)
    ]
    if q.case_id:
        messages = [m for m in messages if m.case_id == q.case_id]
    return Outbox(messages=messages, directory=str(directory))


C = "/api/v1/cases/{case_id}"
ROUTES: list[Route] = [
    Route(
        "POST", "/api/v1/cases", open_case, "Open a case", CaseStatus, COORDINATORS, body=OpenCase, status=201
    ),
    Route("GET", "/api/v1/cases", list_cases, "Cases from the visibility store", CaseList, query=ListQuery),
    Route("GET", C, case_status, "Stage, records, specialist, SLA and timeline", CaseStatus),
    Route("GET", f"{C}/audit", case_audit, "The case's audit trail", AuditTrail),
    Route(
        "POST",
        f"{C}/records",
        add_records,
        "Upload records (streamed, encrypted)",
        ActionResult,
        COORDINATORS,
        query=RecordsQuery,
        upload=Upload(1, MAX_FILES),
    ),
    Route(
        "POST",
        f"{C}/records/complete",
        complete_records,
        "Declare the records complete",
        ActionResult,
        COORDINATORS,
        body=CompleteRecordsBody,
    ),
    Route(
        "POST",
        f"{C}/specialist",
        assign_specialist,
        "Assign or reassign a specialist",
        ActionResult,
        EVERYONE,
        body=AssignBody,
    ),
    Route(
        "POST",
        f"{C}/specialist/decline",
        decline_specialist,
        "Record a specialist's decline",
        ActionResult,
        COORDINATORS,
        body=DeclineBody,
    ),
    Route(
        "POST",
        f"{C}/info/request",
        request_info,
        "Stop the clock: ask for more",
        ActionResult,
        COORDINATORS,
        body=RequestInfoBody,
    ),
    Route(
        "POST",
        f"{C}/info/supply",
        supply_info,
        "Supply what was asked; the clock restarts",
        ActionResult,
        COORDINATORS,
        query=SupplyQuery,
        upload=Upload(0, MAX_FILES),
    ),
    Route(
        "POST",
        f"{C}/report",
        submit_report,
        "Submit the written report",
        ActionResult,
        COORDINATORS,
        query=ReportQuery,
        upload=Upload(1, 1),
    ),
    Route(
        "POST",
        f"{C}/consults",
        book_consult,
        "Book a telephone consult",
        ActionResult,
        COORDINATORS,
        body=BookConsultBody,
    ),
    Route(
        "POST",
        f"{C}/consults/complete",
        complete_consult,
        "Mark the booked consult held",
        ActionResult,
        COORDINATORS,
        body=Empty,
    ),
    Route(
        "POST",
        f"{C}/third-opinion",
        third_opinion,
        "Request a third opinion (billed)",
        ActionResult,
        COORDINATORS,
        body=Empty,
    ),
    Route("POST", f"{C}/close", close_case, "Close the case", ActionResult, COORDINATORS, body=Empty),
    Route("POST", f"{C}/cancel", cancel_case, "Cancel the case", ActionResult, SUPERVISORS, body=ReasonBody),
    Route(
        "POST",
        f"{C}/override",
        override_eligibility,
        "Override an eligibility refusal",
        ActionResult,
        SUPERVISORS,
        body=ReasonBody,
    ),
    Route(
        "PUT",
        f"{C}/details",
        update_details,
        "Replace the member's details",
        ActionResult,
        COORDINATORS,
        body=PatientIntake,
    ),
    Route(
        "POST",
        f"{C}/portal-link",
        send_portal_link,
        "Email the member a new portal sign-in link",
        ActionResult,
        COORDINATORS,
        body=Empty,
        status=202,
    ),
    Route(
        "POST",
        f"{C}/consent",
        record_consent,
        "Attest the member's consent to the transfer with the signed form",
        ActionResult,
        COORDINATORS,
        upload=Upload(1, 1),
    ),
    Route(
        "GET",
        "/api/v1/audit",
        audit_all,
        "The audit trail across cases",
        AuditTrail,
        SUPERVISORS,
        query=AuditQuery,
        tags=("audit",),
    ),
    Route(
        "GET",
        "/api/v1/specialists",
        list_specialists,
        "The roster",
        Roster,
        query=SpecialistQuery,
        tags=("roster",),
    ),
    Route(
        "GET",
        "/api/v1/outbox",
        outbox,
        "Messages in the development outbox",
        Outbox,
        query=OutboxQuery,
        tags=("dev",),
    ),
]
