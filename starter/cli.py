"""`smo`: the coordinator's command line (Typer + Rich).

Every command talks to the running service: updates to the case workflow, queries and
visibility for status and lists. A user mistake prints one `error:` line and exits 2.
"""

from __future__ import annotations

import asyncio
import functools
import getpass
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.storage import DocumentStore
from models import search
from models.case import (
    AssignSpecialist,
    BookConsult,
    Cancel,
    CaseStatus,
    Close,
    CompleteConsult,
    CompleteRecords,
    Decline,
    DocumentRef,
    EligibilityFacts,
    InfoReason,
    OverrideEligibility,
    RecordType,
    RequestInfo,
    RequestThirdOpinion,
    Stage,
    SubmitReport,
    SupplyInfo,
    UpdateDetails,
)
from models.intake import PatientIntake
from models.program import load_programs
from runtime.db import audit, audit_trail, init_db
from runtime.logging import configure_logging
from runtime.outbox import read_outbox
from runtime.temporal import connect
from security.keys import KeyRing
from starter import ops
from starter.calendar_cli import calendar_app, sla_app
from starter.dev import DevStack, load_settings
from starter.program_cli import eligibility_app, program_app
from workflows.smo_case import SmoCaseWorkflow

T = TypeVar("T")

app = typer.Typer(
    help="Second Medical Opinion cases, driven durably.", no_args_is_help=True, pretty_exceptions_enable=False
)
case_app = typer.Typer(help="Open, inspect and close cases.", no_args_is_help=True)
records_app = typer.Typer(help="Medical records of a case.", no_args_is_help=True)
specialist_app = typer.Typer(help="Specialist assignment.", no_args_is_help=True)
report_app = typer.Typer(help="The specialist's written report.", no_args_is_help=True)
consult_app = typer.Typer(help="Telephone consults after the report.", no_args_is_help=True)
info_app = typer.Typer(help="Stop the clock: more information for the specialist.", no_args_is_help=True)
app.add_typer(case_app, name="case")
app.add_typer(records_app, name="records")
app.add_typer(specialist_app, name="specialist")
app.add_typer(report_app, name="report")
app.add_typer(consult_app, name="consult")
app.add_typer(info_app, name="info")
app.add_typer(sla_app, name="sla")
app.add_typer(calendar_app, name="calendar")
app.add_typer(program_app, name="program")
app.add_typer(eligibility_app, name="eligibility")

out = Console()
err = Console(stderr=True)

# Files are checked before anything is stored or sent.
EXISTING: dict[str, Any] = {"exists": True, "dir_okay": False, "readable": True}
By = Annotated[str, typer.Option("--by", help="Who is acting (default: $SMO_USER or login)")]


def _actor(by: str) -> str:
    return by or os.environ.get("SMO_USER") or getpass.getuser()


def _explain(exc: BaseException) -> str | None:
    """One readable line for a mistake the user can fix, else None."""
    if isinstance(exc, ops.UserError):
        return str(exc)
    if isinstance(exc, WorkflowUpdateFailedError):
        cause = exc.cause
        while cause is not None and isinstance(cause, ApplicationError) and cause.cause is not None:
            cause = cause.cause
        return getattr(cause, "message", None) or str(cause or exc)
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}" if where else first["msg"]
    if isinstance(exc, RPCError):
        text = str(exc)
        if exc.status == RPCStatusCode.NOT_FOUND or "completed" in text:
            return f"the case is finished or does not exist ({text})"
        if "already" in text.lower():
            return f"that case id is taken: {text}"
        return f"the Temporal server refused the request: {text}"
    if isinstance(exc, (ConnectionError, OSError)) or "connect" in str(exc).lower():
        address = os.environ.get("SMO_TEMPORAL_ADDRESS", "127.0.0.1:7233")
        return f"cannot reach the Temporal server at {address}; is `smo dev` running?"
    if isinstance(exc, (ValueError, FileNotFoundError)):
        return str(exc)
    return None


def command(fn: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Run an async command; turn user mistakes into `error: ...` and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return asyncio.run(fn(*args, **kwargs))
        except typer.Exit:
            raise
        except Exception as exc:
            message = _explain(exc)
            if message is None:
                raise
            err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


class Context:
    """Settings, client, store and case DB for one command."""

    def __init__(self) -> None:
        self.settings = load_settings()
        configure_logging(self.settings.log_format, "WARNING")
        self.engine = init_db(self.settings)
        keys = self.settings.document_keys.get_secret_value()
        self.store = DocumentStore(self.settings.store_root, KeyRing.parse(keys))
        self._client: Client | None = None

    async def client(self) -> Client:
        if self._client is None:
            self._client = await connect(self.settings)
        return self._client

    def audit(self, actor: str, action: str, case_id: str | None, outcome: str, detail: str = "") -> None:
        audit(self.engine, actor=actor, action=action, case_id=case_id, outcome=outcome, detail=detail)


async def _update(ctx: Context, case_id: str, update: Any, arg: Any, action: str, actor: str) -> Any:
    """Send one update and audit the attempt with its outcome."""
    client = await ctx.client()
    try:
        result = await ops.handle_for(client, case_id).execute_update(update, arg)
    except Exception as exc:
        ctx.audit(actor, action, case_id, "refused", _explain(exc) or type(exc).__name__)
        raise
    ctx.audit(actor, action, case_id, "accepted", getattr(result, "detail", ""))
    return result


async def _until_stopped() -> None:
    """Wait for Ctrl-C or SIGTERM, so that the stack around the caller always stops cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _intake(
    patient: str,
    dob: str,
    email: str,
    phone: str,
    diagnosis: str,
    icd10: str,
    policy: str,
    treating_doctor: str = "",
) -> PatientIntake:
    """The intake sheet from command-line options, validated before anything is stored."""
    try:
        dob_date = date.fromisoformat(dob)
    except ValueError:
        raise ops.UserError(f"--dob {dob!r} is not a date (YYYY-MM-DD)") from None
    return PatientIntake(
        patient_name=patient,
        date_of_birth=dob_date,
        email=email,
        phone=phone,
        diagnosis_text=diagnosis,
        icd10=icd10.strip().upper(),
        policy_number=policy,
        treating_doctor=treating_doctor,
    )


def _print_ack(case_id: str, ack: Any) -> None:
    detail = f" ({ack.detail})" if getattr(ack, "detail", "") else ""
    out.print(f"{case_id}: {ack.stage.value}{detail}")


def _send(case_id: str, update: Any, make: Callable[[str], Any], action: str, by: str) -> None:
    """One coordinator action: build the payload for the actor, send it, audit it, print the answer."""

    async def main() -> None:
        ctx = Context()
        actor = _actor(by)
        ack = await _update(ctx, case_id, update, make(actor), action, actor)
        _print_ack(case_id, ack)

    command(main)()


# ---- service ---------------------------------------------------------------------------


@app.command()
def dev(
    demo: Annotated[bool, typer.Option(help="Run the demo case once the service is up")] = False,
    program: Annotated[str, typer.Option(help="Program for the demo case")] = "prudential-kh",
) -> None:
    """Run the whole service locally: dev server + Web UI, SMTP outbox, codec server, worker."""

    async def main() -> None:
        settings = load_settings()
        configure_logging(settings.log_format, settings.log_level)
        async with DevStack(settings) as stack:
            out.print(
                f"[bold]Temporal[/] {settings.temporal_address}   "
                f"[bold]Web UI[/] http://localhost:{settings.ui_port}"
            )
            out.print(f"[bold]Codec endpoint[/] {settings.base_url}/codec/t/<token from .smo/secrets.env>")
            out.print(
                f"[bold]SMTP outbox[/] {settings.smtp_host}:{settings.smtp_port} → {settings.outbox_dir}"
            )
            if demo:
                from starter.demo import run_demo

                client = await connect(settings)
                assert stack.services is not None
                result = await run_demo(
                    client, settings, stack.services.store, program=program, say=out.print
                )
                _print_status(await ops.status(client, result.case_id))
                _print_outbox(settings.outbox_dir, result.case_id)
            out.print("Service running. Ctrl-C stops it.")
            await _until_stopped()

    command(main)()
    out.print("stopped")


@app.command("worker")
def worker_cmd() -> None:
    """Run a worker against an existing Temporal server (SMO_TEMPORAL_ADDRESS)."""
    import worker

    worker.main()


@app.command("web")
def web_cmd() -> None:
    """Serve the Web UI's codec endpoint and the signed report links (SMO_WEB_HOST/PORT)."""
    from aiohttp import web

    from runtime.temporal import converter_for
    from runtime.web import build_web_app
    from security.codec import EncryptionCodec
    from worker import Services

    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    services = Services.from_settings(settings)
    codec = converter_for(settings).payload_codec
    assert isinstance(codec, EncryptionCodec)
    app_ = build_web_app(
        engine=services.engine,
        store=services.store,
        signer=services.signer,
        codec=codec,
        tokens=settings.codec_token_map(),
        cors_origins=settings.ui_origins,
    )
    web.run_app(app_, host=settings.web_host, port=settings.web_port, access_log=None)


@app.command()
def demo(
    once: Annotated[bool, typer.Option(help="Start what it needs, run the case to CLOSED, stop")] = False,
    program: Annotated[str, typer.Option(help="prudential-kh or assist-america")] = "prudential-kh",
) -> None:
    """Drive the demo case (Sokha Chan, C50.912) through every stage and print its timeline."""
    from starter.demo import DEMO_POLICIES, run_demo

    async def main() -> None:
        if program not in DEMO_POLICIES:
            raise ops.UserError(f"no demo for program {program!r}; try {', '.join(DEMO_POLICIES)}")
        settings = load_settings()
        if once:
            configure_logging(settings.log_format, "WARNING")
            # One-shot: no calendar watch, so the demo case is all the dev server keeps.
            async with DevStack(settings, ui=False, watch=False) as stack:
                assert stack.services is not None
                client = await connect(settings)
                result = await run_demo(
                    client, settings, stack.services.store, program=program, say=out.print
                )
                _print_status(await ops.status(client, result.case_id))
                _print_outbox(settings.outbox_dir, result.case_id)
            return
        ctx = Context()
        client = await ctx.client()
        result = await run_demo(client, ctx.settings, ctx.store, program=program, say=out.print)
        _print_status(await ops.status(client, result.case_id))

    command(main)()


# ---- cases -----------------------------------------------------------------------------


@case_app.command("open")
def case_open(
    program: Annotated[str, typer.Option(help="prudential-kh or assist-america")],
    policy: Annotated[str, typer.Option(help="Policy number")],
    patient: Annotated[str, typer.Option(help="Patient's full name (stored encrypted)")],
    dob: Annotated[str, typer.Option(help="Date of birth, YYYY-MM-DD")],
    email: Annotated[str, typer.Option(help="Customer's email for notices")],
    icd10: Annotated[str, typer.Option(help="ICD-10 code of the diagnosis, e.g. C50.912")],
    diagnosis: Annotated[str, typer.Option(help="Diagnosis as written (stored encrypted)")],
    phone: Annotated[str, typer.Option()] = "",
    treating_doctor: Annotated[str, typer.Option()] = "",
    treating_institution: Annotated[str | None, typer.Option(help="For the conflict check")] = None,
    case_id: Annotated[str | None, typer.Option(help="Choose the case id (idempotent open)")] = None,
    emergency: Annotated[bool, typer.Option("--emergency")] = False,
    critical_care: Annotated[bool, typer.Option("--critical-care")] = False,
    common_issue: Annotated[bool, typer.Option("--common-issue")] = False,
    no_prior_diagnosis: Annotated[bool, typer.Option("--no-prior-diagnosis")] = False,
    not_complex: Annotated[bool, typer.Option("--not-complex")] = False,
    exclusion: Annotated[list[str] | None, typer.Option(help="Policy exclusion alias (repeatable)")] = None,
    follow_up_of: Annotated[str | None, typer.Option(help="Earlier case this follows up")] = None,
    override_reason: Annotated[str | None, typer.Option(help="Open despite a refusal, with a reason")] = None,
    by: By = "",
) -> None:
    """Open a case. The PHI goes to the encrypted store; the workflow gets references."""

    async def main() -> None:
        ctx = Context()
        actor = _actor(by)
        intake = _intake(patient, dob, email, phone, diagnosis, icd10, policy, treating_doctor)
        ops.check_program_input(load_programs(ctx.settings.programs_dir), program, exclusion or [])
        facts = EligibilityFacts(
            emergency=emergency,
            critical_care=critical_care,
            common_issue=common_issue,
            prior_diagnosis=not no_prior_diagnosis,
            complex_condition=not not_complex,
            exclusions=frozenset(exclusion or []),
        )
        client = await ctx.client()
        status = await ops.open_case(
            client,
            ctx.settings,
            ctx.store,
            program=program,
            intake=intake,
            facts=facts,
            opened_by=actor,
            case_id=case_id,
            treating_institution=treating_institution,
            follow_up_of=follow_up_of,
            override_reason=override_reason,
        )
        ctx.audit(actor, "case.open", status.case_id, status.stage.value)
        _print_status(status, timeline=False)

    command(main)()


@case_app.command("status")
def case_status(case_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Stage, records checklist, specialist, SLA deadline and timeline of a case."""

    async def main() -> None:
        ctx = Context()
        status = await ops.status(await ctx.client(), case_id)
        if as_json:
            out.print_json(status.model_dump_json())
        else:
            _print_status(status)

    command(main)()


@case_app.command("list")
def case_list(
    stage: Annotated[Stage | None, typer.Option(case_sensitive=False)] = None,
    program: Annotated[str | None, typer.Option()] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="SLA breached or past due")] = False,
    due_within: Annotated[str | None, typer.Option(help="Report due within e.g. 2d, 36h")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
) -> None:
    """Cases from the Temporal visibility store (what the Web UI shows too)."""

    async def main() -> None:
        ctx = Context()
        query = ops.list_query(
            stage=stage,
            program=program,
            overdue=overdue,
            due_within=ops.parse_duration(due_within) if due_within else None,
        )
        client = await ctx.client()
        table = Table("case", "stage", "program", "specialty", "SLA", "due", "status")
        n = 0
        async for wf in client.list_workflows(query, limit=limit):
            sa = wf.typed_search_attributes
            due = sa.get(search.SLA_DEADLINE)
            table.add_row(
                wf.id.removeprefix("smo-"),
                sa.get(search.STAGE) or "",
                sa.get(search.PROGRAM) or "",
                sa.get(search.SPECIALTY) or "",
                sa.get(search.SLA_STATE) or "",
                due.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if due else "",
                wf.status.name.lower() if wf.status else "",
            )
            n += 1
        out.print(table)
        out.print(f"{n} case(s)")

    command(main)()


@case_app.command("cancel")
def case_cancel(case_id: str, reason: Annotated[str, typer.Option()], by: By = "") -> None:
    """Cancel a case, with a reason."""

    _send(case_id, SmoCaseWorkflow.cancel, lambda actor: Cancel(reason=reason, by=actor), "case.cancel", by)


@case_app.command("close")
def case_close(case_id: str, by: By = "") -> None:
    """Close a case after its report (and any booked consult)."""

    _send(case_id, SmoCaseWorkflow.close, lambda actor: Close(by=actor), "case.close", by)


@case_app.command("override")
def case_override(case_id: str, reason: Annotated[str, typer.Option()], by: By = "") -> None:
    """Override an eligibility refusal, with a reason (audited)."""

    _send(
        case_id,
        SmoCaseWorkflow.override_eligibility,
        lambda actor: OverrideEligibility(reason=reason, by=actor),
        "eligibility.override",
        by,
    )


@case_app.command("third-opinion")
def case_third_opinion(case_id: str, by: By = "") -> None:
    """Request a third opinion from a different specialist (billed to the customer)."""

    _send(
        case_id,
        SmoCaseWorkflow.request_third_opinion,
        lambda actor: RequestThirdOpinion(by=actor),
        "case.third_opinion",
        by,
    )


@case_app.command("update-details")
def case_update_details(
    case_id: str,
    patient: Annotated[str, typer.Option()],
    dob: Annotated[str, typer.Option()],
    email: Annotated[str, typer.Option()],
    icd10: Annotated[str, typer.Option()],
    diagnosis: Annotated[str, typer.Option()],
    policy: Annotated[str, typer.Option()],
    phone: Annotated[str, typer.Option()] = "",
    by: By = "",
) -> None:
    """Replace the member's details (the team is notified)."""

    async def main() -> None:
        ctx = Context()
        actor = _actor(by)
        intake = _intake(patient, dob, email, phone, diagnosis, icd10, policy)
        await ops.ensure_running(await ctx.client(), case_id)
        stored = await asyncio.to_thread(ctx.store.put_intake, intake)
        try:
            ack = await _update(
                ctx,
                case_id,
                SmoCaseWorkflow.update_details,
                UpdateDetails(intake_doc_id=stored.doc_id, by=actor),
                "case.update_details",
                actor,
            )
        except WorkflowUpdateFailedError:
            if stored.created:  # a refused update leaves no PHI behind
                ctx.store.delete(stored.doc_id)
            raise
        _print_ack(case_id, ack)

    command(main)()


@case_app.command("audit")
def case_audit(case_id: str) -> None:
    """The append-only audit trail of a case: who did what, when, with what outcome."""
    _print_audit(case_id=case_id)


@app.command("audit")
def audit_cmd(
    action: Annotated[str | None, typer.Option(help="e.g. codec.decode, document.download")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 200,
) -> None:
    """The audit trail across cases, including decrypt requests to the codec endpoint."""
    _print_audit(action=action, limit=limit)


def _print_audit(case_id: str | None = None, action: str | None = None, limit: int = 1000) -> None:
    async def main() -> None:
        ctx = Context()
        rows = await asyncio.to_thread(audit_trail, ctx.engine, case_id, action=action, limit=limit)
        table = Table("at (UTC)", "case", "actor", "action", "outcome", "detail")
        for row in rows:
            table.add_row(
                row.at.strftime("%Y-%m-%d %H:%M:%S"),
                row.case_id or "",
                row.actor,
                row.action,
                row.outcome,
                row.detail,
            )
        out.print(table)
        if not rows:
            out.print("no audit events" + (f" for {case_id}" if case_id else ""))

    command(main)()


# ---- records, specialist, report, consult, info ------------------------------------------


@records_app.command("add")
def records_add(
    case_id: str,
    files: Annotated[list[Path], typer.Argument(help="Files to upload (streamed, encrypted)", **EXISTING)],
    record_type: Annotated[RecordType, typer.Option("--type", case_sensitive=False)],
    by: By = "",
) -> None:
    """Upload records of one type to a case."""

    async def main() -> None:
        ctx = Context()
        actor = _actor(by)
        client = await ctx.client()
        try:
            ack = await ops.add_records(client, ctx.store, case_id, files, record_type, actor)
        except Exception as exc:
            ctx.audit(actor, "records.add", case_id, "refused", _explain(exc) or type(exc).__name__)
            raise
        ctx.audit(actor, "records.add", case_id, "accepted", f"{len(files)} {record_type.value}")
        _print_ack(case_id, ack)

    command(main)()


@records_app.command("complete")
def records_complete(
    case_id: str,
    waive: Annotated[list[RecordType] | None, typer.Option(help="Required type not applicable")] = None,
    reason: Annotated[str | None, typer.Option(help="Why the waived types do not apply")] = None,
    by: By = "",
) -> None:
    """Declare the records complete: the case moves on to specialist assignment."""

    _send(
        case_id,
        SmoCaseWorkflow.mark_records_complete,
        lambda actor: CompleteRecords(waive=waive or [], waive_reason=reason, by=actor),
        "records.complete",
        by,
    )


@specialist_app.command("assign")
def specialist_assign(case_id: str, specialist_id: str, by: By = "") -> None:
    """Assign (or reassign) a specialist: specialty, certification, capacity and conflict are checked."""

    _send(
        case_id,
        SmoCaseWorkflow.assign_specialist,
        lambda actor: AssignSpecialist(specialist_id=specialist_id, by=actor),
        "specialist.assign",
        by,
    )


@specialist_app.command("decline")
def specialist_decline(
    case_id: str,
    specialist: Annotated[str, typer.Option(help="The declining specialist's id")],
    reason: Annotated[str, typer.Option()],
    by: By = "",
) -> None:
    """Record a specialist's decline: the case is reassigned."""

    _send(
        case_id,
        SmoCaseWorkflow.decline,
        lambda actor: Decline(specialist_id=specialist, reason=reason, by=actor),
        "specialist.decline",
        by,
    )


@specialist_app.command("list")
def specialist_list(specialty: Annotated[str | None, typer.Option()] = None) -> None:
    """The roster."""
    from sqlmodel import Session, select

    from models.db import Specialist

    async def main() -> None:
        ctx = Context()
        with Session(ctx.engine) as session:
            query = select(Specialist)
            if specialty:
                query = query.where(Specialist.specialty == specialty)
            rows = list(session.exec(query))
        table = Table("id", "name", "specialty", "board", "capacity", "affiliation")
        for r in rows:
            table.add_row(
                r.specialist_id,
                r.name,
                r.specialty,
                r.board if r.board_certified else "[red]not certified[/]",
                str(r.capacity),
                r.affiliation,
            )
        out.print(table)

    command(main)()


@report_app.command("submit")
def report_submit(
    case_id: str,
    file: Annotated[Path, typer.Argument(help="The report file", **EXISTING)],
    specialist: Annotated[str, typer.Option(help="The assigned specialist's id")],
    by: By = "",
) -> None:
    """Submit the written report: the SLA is met and the customer gets a signed link."""

    async def main() -> None:
        ctx = Context()
        actor = _actor(by)
        await ops.ensure_running(await ctx.client(), case_id)
        ((ref, stored),) = await ops.store_files(ctx.store, [file], RecordType.SMO_REPORT)
        try:
            ack = await _update(
                ctx,
                case_id,
                SmoCaseWorkflow.submit_report,
                SubmitReport(document=ref, specialist_id=specialist, by=actor),
                "report.submit",
                actor,
            )
        except WorkflowUpdateFailedError:  # refused: the report goes too
            if stored.created:
                ctx.store.delete(ref.doc_id)
            raise
        _print_ack(case_id, ack)

    command(main)()


@info_app.command("request")
def info_request(
    case_id: str,
    reason: Annotated[InfoReason, typer.Option(case_sensitive=False)],
    record_type: Annotated[list[RecordType] | None, typer.Option("--type")] = None,
    by: By = "",
) -> None:
    """The specialist needs more: the SLA clock stops, keeping the working days used."""

    _send(
        case_id,
        SmoCaseWorkflow.request_more_info,
        lambda actor: RequestInfo(reason=reason, record_types=record_type or [], by=actor),
        "info.request",
        by,
    )


@info_app.command("supply")
def info_supply(
    case_id: str,
    files: Annotated[list[Path] | None, typer.Argument(**EXISTING)] = None,
    record_type: Annotated[RecordType, typer.Option("--type", case_sensitive=False)] = RecordType.OTHER,
    by: By = "",
) -> None:
    """Supply the requested information: the clock restarts with the days that remain."""

    async def main() -> None:
        ctx = Context()
        actor = _actor(by)
        await ops.ensure_running(await ctx.client(), case_id)
        stored = await ops.store_files(ctx.store, files or [], record_type)
        docs: list[DocumentRef] = [ref for ref, _ in stored]
        try:
            ack = await _update(
                ctx,
                case_id,
                SmoCaseWorkflow.supply_info,
                SupplyInfo(documents=docs, by=actor),
                "info.supply",
                actor,
            )
        except WorkflowUpdateFailedError:  # refused: what this call stored goes too
            await ops.discard(ctx.store, stored)
            raise
        _print_ack(case_id, ack)

    command(main)()


@consult_app.command("book")
def consult_book(
    case_id: str,
    slot: Annotated[str, typer.Option(help="ISO 8601 with offset, e.g. 2026-12-14T09:00+07:00")],
    by: By = "",
) -> None:
    """Book a telephone consult (the program's free ones first, then billed with a receipt)."""

    async def main() -> None:
        ctx = Context()
        actor = _actor(by)
        try:
            when = datetime.fromisoformat(slot)
        except ValueError:
            raise ops.UserError(f"--slot {slot!r} is not an ISO 8601 date-time") from None
        ack = await _update(
            ctx,
            case_id,
            SmoCaseWorkflow.book_consult,
            BookConsult(slot=when, by=actor),
            "consult.book",
            actor,
        )
        _print_ack(case_id, ack)

    command(main)()


@consult_app.command("complete")
def consult_complete(case_id: str, by: By = "") -> None:
    """Mark the booked consult as held."""

    _send(
        case_id,
        SmoCaseWorkflow.complete_consult,
        lambda actor: CompleteConsult(by=actor),
        "consult.complete",
        by,
    )


@app.command("outbox")
def outbox_cmd(case_id: Annotated[str | None, typer.Argument()] = None) -> None:
    """Messages the local SMTP outbox received (`smo dev`)."""
    _print_outbox(load_settings().outbox_dir, case_id)


# ---- rendering -------------------------------------------------------------------------


def _print_status(status: CaseStatus, timeline: bool = True) -> None:
    out.print(f"[bold]{status.case_id}[/]  {status.program}  [bold cyan]{status.stage.value}[/]")
    if status.eligibility and not status.eligibility.eligible:
        for r in status.eligibility.reasons:
            out.print(f"  refused [{r.code}] {r.text}", markup=False)
    rec = status.records
    received = ", ".join(f"{t.value}×{n}" for t, n in rec.received.items()) or "none"
    out.print(
        f"  records: {received}; missing: {', '.join(m.value for m in rec.missing) or 'none'}"
        + (f"; {rec.documents}/{rec.cap} documents" if rec.cap else "")
    )
    if status.specialist_id:
        out.print(f"  specialist: {status.specialist_id} ({status.specialty})")
    if status.sla.due_at:
        out.print(
            f"  SLA {status.sla.state.value}: due {status.sla.due_at.isoformat()} "
            f"({status.sla.working_days} working days, {status.sla.elapsed_working_days} used)"
        )
    if status.reassignment_offered:
        out.print("  [red]SLA breached: reassignment offered[/] (smo specialist assign CASE ID)")
    if status.report_doc_ids:
        out.print(
            f"  reports: {len(status.report_doc_ids)}; consults booked {status.consults_booked},"
            f" held {status.consults_completed}"
        )
    if timeline:
        table = Table("at (UTC)", "stage", "event", "detail")
        for t in status.timeline:
            table.add_row(
                t.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"), t.stage.value, t.event, t.detail
            )
        out.print(table)


def _print_outbox(directory: Path, case_id: str | None = None) -> None:
    table = Table("to", "subject")
    n = 0
    for msg in read_outbox(directory):
        if case_id and msg.get("X-SMO-Case-Id") != case_id:
            continue
        table.add_row(str(msg["To"]), str(msg["Subject"]))
        n += 1
    out.print(table)
    out.print(f"{n} message(s) in {directory}")


def main() -> None:
    """The console script: usage mistakes get the same one-line `error:` as everything else."""
    try:
        code = app(standalone_mode=False)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:
        # Typer's usage errors (missing option, bad choice...) carry exit code 2 and a message.
        if getattr(exc, "exit_code", None) != 2 or not hasattr(exc, "format_message"):
            raise
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        err.print(f"error: {exc.format_message()}{hint}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
