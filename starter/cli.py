"""`smo`: the coordinator's command line (Typer + Rich), a thin client of the service's API.

Coordinator commands call `SMO_API_URL` with `SMO_TOKEN`: no keys, no store and no
Temporal connection on the coordinator's machine. Server-side commands (`dev`, `worker`,
`web`, `demo`, `user`) and the local calculators (`sla`, `calendar`, `program`,
`eligibility`) import what they need only when they run, so `smo --help` stays fast.
A user mistake prints one `error:` line and exits 2.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from typer._click.core import Command, Context  # typer vendors its own click; its groups take these
from typer.core import TyperGroup

from models.vocabulary import InfoReason, RecordType, Stage
from starter.api_client import Api, ApiRefused, ApiUnreachable
from starter.report_cli import register as register_report_sla

T = TypeVar("T")

# Sub-apps loaded only when their command runs: name -> (module:attribute, one-line help).
LAZY: dict[str, tuple[str, str]] = {
    "sla": ("starter.calendar_cli:sla_app", "Report deadlines under the working-day SLA."),
    "calendar": ("starter.calendar_cli:calendar_app", "Public-holiday calendars used by the SLA."),
    "program": ("starter.program_cli:program_app", "Inspect the configured SMO programs."),
    "eligibility": ("starter.program_cli:eligibility_app", "Check eligibility without opening a case."),
    "user": ("starter.user_cli:user_app", "API users and their personal tokens (run where the case DB is)."),
    "db": ("starter.db_cli:db_app", "The case DB's schema: upgrade it, show its revision."),
}


class LazyGroup(TyperGroup):
    """Lists the lazy sub-apps by their help line; imports one only when it is invoked."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in LAZY if n not in self.commands)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name in LAZY and cmd_name not in self.commands:
            return TyperGroup(name=cmd_name, help=LAZY[cmd_name][1])  # a label for the help page
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        name = args[0] if args else ""
        if name in LAZY and name not in self.commands:
            module, attr = LAZY[name][0].split(":")
            sub = typer.main.get_group(getattr(importlib.import_module(module), attr))
            sub.name = name
            self.add_command(sub, name)
        return super().resolve_command(ctx, args)


# Plain help pages: Typer's Rich help imports a Markdown parser, a third of `smo --help`.
PLAIN: dict[str, Any] = {"no_args_is_help": True, "rich_markup_mode": None}
app = typer.Typer(
    cls=LazyGroup,
    help="Second Medical Opinion cases, driven durably.",
    pretty_exceptions_enable=False,
    **PLAIN,
)
case_app = typer.Typer(help="Open, inspect and close cases.", **PLAIN)
records_app = typer.Typer(help="Medical records of a case.", **PLAIN)
specialist_app = typer.Typer(help="Specialist assignment.", **PLAIN)
report_app = typer.Typer(help="The specialist's written report, and the monthly SLA report.", **PLAIN)
consult_app = typer.Typer(help="Telephone consults after the report.", **PLAIN)
info_app = typer.Typer(help="Stop the clock: more information for the specialist.", **PLAIN)
app.add_typer(case_app, name="case")
app.add_typer(records_app, name="records")
app.add_typer(specialist_app, name="specialist")
app.add_typer(report_app, name="report")
# `smo report sla` (server-side, reads the case DB) joins `smo report submit`; its module
# imports only typer at load time.
register_report_sla(report_app)
app.add_typer(consult_app, name="consult")
app.add_typer(info_app, name="info")

out = Console()
err = Console(stderr=True)

# Files are checked before anything is sent.
EXISTING: dict[str, Any] = {"exists": True, "dir_okay": False, "readable": True}


class UserError(Exception):
    """A mistake the coordinator can fix, found before anything is sent."""


def _explain(exc: BaseException) -> str | None:
    """One readable line for a mistake the user can fix, else None."""
    if isinstance(exc, (UserError, ApiRefused, ApiUnreachable)):
        return str(exc)
    # A missing or unreadable file is the user's to fix; check it before the network errors
    # it would otherwise be mistaken for (FileNotFoundError is an OSError).
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename or exc}: no such file"
    if isinstance(exc, PermissionError):
        return f"{exc.filename or exc}: permission denied"
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename or exc}: is a folder, not a file"
    if isinstance(exc, (ConnectionError, OSError)):
        return f"cannot reach the SMO API ({type(exc).__name__}); is `smo dev` running?"
    if isinstance(exc, ValueError):
        return str(exc)
    return None


def command(fn: Callable[[], T]) -> T:
    """Run one command; turn user mistakes into `error: ...` and exit code 2."""
    try:
        return fn()
    except typer.Exit:
        raise
    except Exception as exc:
        message = _explain(exc)
        if message is None:
            raise
        err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _case(case_id: str) -> str:
    from urllib.parse import quote

    return f"/api/v1/cases/{quote(case_id, safe='')}"


def _print_ack(ack: dict[str, Any]) -> None:
    if not ack.get("done", True):  # the case accepted it and is still carrying it out
        out.print(f"{ack['case_id']}: accepted, in progress (see smo case status {ack['case_id']})")
        return
    detail = f" ({ack['detail']})" if ack.get("detail") else ""
    out.print(f"{ack['case_id']}: {ack['stage']}{detail}")


def _post(case_id: str, action: str, body: dict[str, Any] | None = None) -> None:
    """One coordinator action on a case: the API sends the update, audits it and answers."""
    command(lambda: _print_ack(Api().request("POST", f"{_case(case_id)}/{action}", body=body or {})))


def _upload(case_id: str, action: str, files: list[Path], query: dict[str, Any]) -> None:
    def run() -> None:
        for path in files:
            if not path.is_file():
                raise UserError(f"{path}: no such file")
        api = Api()
        target = f"{_case(case_id)}/{action}"
        _print_ack(api.request("POST", target, query=query, files=files, multipart=bool(files)))

    command(run)


def _details(
    patient: str,
    dob: str,
    email: str,
    phone: str,
    diagnosis: str,
    icd10: str,
    policy: str,
    treating_doctor: str = "",
) -> dict[str, Any]:
    """The member's details, checked here first so that a mistake is named before anything is sent."""
    from datetime import date

    from pydantic import ValidationError

    from models.intake import PatientIntake

    try:
        dob_date = date.fromisoformat(dob)
    except ValueError:
        raise UserError(f"--dob {dob!r} is not a date (YYYY-MM-DD)") from None
    try:
        intake = PatientIntake(
            patient_name=patient,
            date_of_birth=dob_date,
            email=email,
            phone=phone,
            diagnosis_text=diagnosis,
            icd10=icd10.strip().upper(),
            policy_number=policy,
            treating_doctor=treating_doctor,
        )
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UserError(f"{where}: {first['msg']}" if where else first["msg"]) from None
    return intake.model_dump(mode="json")


# ---- service (server side: heavy imports inside) ---------------------------------------


@app.command()
def dev(
    demo: Annotated[bool, typer.Option(help="Run the demo case once the service is up")] = False,
    program: Annotated[str, typer.Option(help="Program for the demo case")] = "prudential-kh",
) -> None:
    """Run the whole service locally: dev server + Web UI, SMTP outbox, API and codec web, worker."""
    from starter.server_cmds import run_dev

    command(lambda: run_dev(demo=demo, program=program, say=out.print))
    out.print("stopped")


@app.command("worker")
def worker_cmd(
    processes: Annotated[int, typer.Option(min=1, max=64, help="Worker processes to run")] = 1,
) -> None:
    """Run a worker against an existing Temporal server (SMO_TEMPORAL_ADDRESS)."""
    from starter.server_cmds import run_worker

    run_worker(processes)


@app.command("web")
def web_cmd() -> None:
    """Serve the API, the Web UI's codec endpoint and the signed report links (SMO_WEB_HOST/PORT)."""
    from starter.server_cmds import run_web

    run_web()


@app.command()
def demo(
    once: Annotated[bool, typer.Option(help="Start what it needs, run the case to CLOSED, stop")] = False,
    program: Annotated[str, typer.Option(help="prudential-kh or assist-america")] = "prudential-kh",
) -> None:
    """Drive the demo case (Sokha Chan, C50.912) through every stage and print its timeline."""
    from starter.server_cmds import run_demo_cmd

    command(lambda: run_demo_cmd(once=once, program=program, say=out.print))


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
) -> None:
    """Open a case. The PHI goes to the encrypted store; the workflow gets references."""

    def run() -> None:
        body = {
            "program": program,
            "details": _details(patient, dob, email, phone, diagnosis, icd10, policy, treating_doctor),
            "facts": {
                "emergency": emergency,
                "critical_care": critical_care,
                "common_issue": common_issue,
                "prior_diagnosis": not no_prior_diagnosis,
                "complex_condition": not not_complex,
                "exclusions": exclusion or [],
            },
            "case_id": case_id,
            "treating_institution": treating_institution,
            "follow_up_of": follow_up_of,
            "override_reason": override_reason,
        }
        _print_status(Api().request("POST", "/api/v1/cases", body=body), timeline=False)

    command(run)


@case_app.command("status")
def case_status(case_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Stage, records checklist, specialist, SLA deadline and timeline of a case."""

    def run() -> None:
        status = Api().request("GET", _case(case_id))
        if as_json:
            out.print_json(json.dumps(status))
        else:
            _print_status(status)

    command(run)


@case_app.command("list")
def case_list(
    stage: Annotated[Stage | None, typer.Option(case_sensitive=False)] = None,
    program: Annotated[str | None, typer.Option()] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="SLA breached or past due")] = False,
    due_within: Annotated[str | None, typer.Option(help="Report due within e.g. 2d, 36h")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
) -> None:
    """Cases from the Temporal visibility store (what the Web UI shows too)."""

    def run() -> None:
        query = {
            "stage": stage.value if stage else None,
            "program": program,
            "overdue": overdue,
            "due_within": due_within,
            "limit": limit,
        }
        cases = Api().request("GET", "/api/v1/cases", query=query)["cases"]
        table = Table("case", "stage", "program", "specialty", "SLA", "due", "status")
        for c in cases:
            due = datetime.fromisoformat(c["due_at"]).astimezone(UTC) if c["due_at"] else None
            table.add_row(
                c["case_id"],
                c["stage"],
                c["program"],
                c["specialty"],
                c["sla_state"],
                due.strftime("%Y-%m-%d %H:%M UTC") if due else "",
                c["status"],
            )
        out.print(table)
        out.print(f"{len(cases)} case(s)")

    command(run)


@case_app.command("cancel")
def case_cancel(case_id: str, reason: Annotated[str, typer.Option()]) -> None:
    """Cancel a case, with a reason (supervisors)."""
    _post(case_id, "cancel", {"reason": reason})


@case_app.command("close")
def case_close(case_id: str) -> None:
    """Close a case after its report (and any booked consult)."""
    _post(case_id, "close")


@case_app.command("override")
def case_override(case_id: str, reason: Annotated[str, typer.Option()]) -> None:
    """Override an eligibility refusal, with a reason (supervisors; audited)."""
    _post(case_id, "override", {"reason": reason})


@case_app.command("third-opinion")
def case_third_opinion(case_id: str) -> None:
    """Request a third opinion from a different specialist (billed to the customer)."""
    _post(case_id, "third-opinion")


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
) -> None:
    """Replace the member's details (the team is notified)."""

    def run() -> None:
        body = _details(patient, dob, email, phone, diagnosis, icd10, policy)
        _print_ack(Api().request("PUT", f"{_case(case_id)}/details", body=body))

    command(run)


@case_app.command("audit")
def case_audit(case_id: str) -> None:
    """The append-only audit trail of a case: who did what, when, with what outcome."""
    command(lambda: _print_audit(Api().request("GET", f"{_case(case_id)}/audit")["events"], case_id))


@app.command("audit")
def audit_cmd(
    action: Annotated[str | None, typer.Option(help="e.g. codec.decode, document.download")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 200,
) -> None:
    """The audit trail across cases, including decrypt requests to the codec endpoint."""
    query = {"action": action, "limit": limit}
    command(lambda: _print_audit(Api().request("GET", "/api/v1/audit", query=query)["events"]))


def _print_audit(rows: list[dict[str, Any]], case_id: str | None = None) -> None:
    table = Table("at (UTC)", "case", "actor", "action", "outcome", "detail")
    for row in rows:
        at = datetime.fromisoformat(row["at"]).astimezone(UTC)
        table.add_row(
            at.strftime("%Y-%m-%d %H:%M:%S"),
            row["case_id"] or "",
            row["actor"],
            row["action"],
            row["outcome"],
            row["detail"],
        )
    out.print(table)
    if not rows:
        out.print("no audit events" + (f" for {case_id}" if case_id else ""))


# ---- records, specialist, report, consult, info ------------------------------------------


@records_app.command("add")
def records_add(
    case_id: str,
    files: Annotated[list[Path], typer.Argument(help="Files to upload (streamed, encrypted)", **EXISTING)],
    record_type: Annotated[RecordType, typer.Option("--type", case_sensitive=False)],
) -> None:
    """Upload records of one type to a case."""
    _upload(case_id, "records", files, {"record_type": record_type.value})


@records_app.command("complete")
def records_complete(
    case_id: str,
    waive: Annotated[list[RecordType] | None, typer.Option(help="Required type not applicable")] = None,
    reason: Annotated[str | None, typer.Option(help="Why the waived types do not apply")] = None,
) -> None:
    """Declare the records complete: the case moves on to specialist assignment."""
    _post(case_id, "records/complete", {"waive": [w.value for w in waive or []], "waive_reason": reason})


@specialist_app.command("assign")
def specialist_assign(case_id: str, specialist_id: str) -> None:
    """Assign (or reassign) a specialist: specialty, certification, capacity and conflict are checked."""
    _post(case_id, "specialist", {"specialist_id": specialist_id})


@specialist_app.command("decline")
def specialist_decline(
    case_id: str,
    specialist: Annotated[str, typer.Option(help="The declining specialist's id")],
    reason: Annotated[str, typer.Option()],
) -> None:
    """Record a specialist's decline: the case is reassigned."""
    _post(case_id, "specialist/decline", {"specialist_id": specialist, "reason": reason})


@specialist_app.command("list")
def specialist_list(specialty: Annotated[str | None, typer.Option()] = None) -> None:
    """The roster."""

    def run() -> None:
        rows = Api().request("GET", "/api/v1/specialists", query={"specialty": specialty})["specialists"]
        table = Table("id", "name", "specialty", "board", "capacity", "affiliation")
        for r in rows:
            table.add_row(
                r["specialist_id"],
                r["name"],
                r["specialty"],
                r["board"] if r["board_certified"] else "[red]not certified[/]",
                str(r["capacity"]),
                r["affiliation"],
            )
        out.print(table)

    command(run)


@report_app.command("submit")
def report_submit(
    case_id: str,
    file: Annotated[Path, typer.Argument(help="The report file", **EXISTING)],
    specialist: Annotated[str, typer.Option(help="The assigned specialist's id")],
) -> None:
    """Submit the written report: the SLA is met and the customer gets a signed link."""
    _upload(case_id, "report", [file], {"specialist_id": specialist})


@info_app.command("request")
def info_request(
    case_id: str,
    reason: Annotated[InfoReason, typer.Option(case_sensitive=False)],
    record_type: Annotated[list[RecordType] | None, typer.Option("--type")] = None,
) -> None:
    """The specialist needs more: the SLA clock stops, keeping the working days used."""
    _post(
        case_id,
        "info/request",
        {"reason": reason.value, "record_types": [t.value for t in record_type or []]},
    )


@info_app.command("supply")
def info_supply(
    case_id: str,
    files: Annotated[list[Path] | None, typer.Argument(**EXISTING)] = None,
    record_type: Annotated[RecordType, typer.Option("--type", case_sensitive=False)] = RecordType.OTHER,
) -> None:
    """Supply the requested information: the clock restarts with the days that remain."""
    _upload(case_id, "info/supply", files or [], {"record_type": record_type.value})


@consult_app.command("book")
def consult_book(
    case_id: str,
    slot: Annotated[str, typer.Option(help="ISO 8601 with offset, e.g. 2026-12-14T09:00+07:00")],
) -> None:
    """Book a telephone consult (the program's free ones first, then billed with a receipt)."""

    def run() -> None:
        try:
            when = datetime.fromisoformat(slot)
        except ValueError:
            raise UserError(f"--slot {slot!r} is not an ISO 8601 date-time") from None
        _print_ack(Api().request("POST", f"{_case(case_id)}/consults", body={"slot": when.isoformat()}))

    command(run)


@consult_app.command("complete")
def consult_complete(case_id: str) -> None:
    """Mark the booked consult as held."""
    _post(case_id, "consults/complete")


@app.command("outbox")
def outbox_cmd(case_id: Annotated[str | None, typer.Argument()] = None) -> None:
    """Messages the local SMTP outbox received (`smo dev`)."""

    def run() -> None:
        box = Api().request("GET", "/api/v1/outbox", query={"case_id": case_id})
        _print_outbox(box["messages"], box["directory"])

    command(run)


# ---- rendering -------------------------------------------------------------------------


def _print_status(status: dict[str, Any], timeline: bool = True) -> None:
    out.print(f"[bold]{status['case_id']}[/]  {status['program']}  [bold cyan]{status['stage']}[/]")
    eligibility = status.get("eligibility")
    if eligibility and not eligibility["eligible"]:
        for r in eligibility["reasons"]:
            out.print(f"  refused [{r['code']}] {r['text']}", markup=False)
    rec = status["records"]
    received = ", ".join(f"{t}×{n}" for t, n in rec["received"].items()) or "none"
    missing = [t for t in rec["required"] if t not in rec["received"] and t not in rec["waived"]]
    out.print(
        f"  records: {received}; missing: {', '.join(missing) or 'none'}"
        + (f"; {rec['documents']}/{rec['cap']} documents" if rec["cap"] else "")
    )
    if status["specialist_id"]:
        out.print(f"  specialist: {status['specialist_id']} ({status['specialty']})")
    sla = status["sla"]
    if sla["due_at"]:
        out.print(
            f"  SLA {sla['state']}: due {datetime.fromisoformat(sla['due_at']).isoformat()} "
            f"({sla['working_days']} working days, {sla['elapsed_working_days']} used)"
        )
    if status["reassignment_offered"]:
        out.print("  [red]SLA breached: reassignment offered[/] (smo specialist assign CASE ID)")
    if status["report_doc_ids"]:
        out.print(
            f"  reports: {len(status['report_doc_ids'])}; consults booked {status['consults_booked']},"
            f" held {status['consults_completed']}"
        )
    if timeline:
        table = Table("at (UTC)", "stage", "event", "detail")
        for t in status["timeline"]:
            at = datetime.fromisoformat(t["at"]).astimezone(UTC)
            table.add_row(at.strftime("%Y-%m-%d %H:%M:%S"), t["stage"], t["event"], t["detail"])
        out.print(table)


def _print_outbox(messages: list[dict[str, Any]], directory: str) -> None:
    table = Table("to", "subject")
    for msg in messages:
        table.add_row(msg["to"], msg["subject"])
    out.print(table)
    out.print(f"{len(messages)} message(s) in {directory}")


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
