"""`smo case …` and `smo audit`: open, watch and end cases, and read the audit trail, through the API.

The member's details are checked here before anything is sent (pydantic is imported only
then, so `smo --help` stays fast); everything else is the API's to decide.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from models.vocabulary import Language, Sex, Stage
from starter.api_client import Api, ApiRefused
from starter.cli_common import PLAIN, UserError, at_desk, case_path, command, out, post, print_ack
from starter.retention_cli import erased_status, print_erased, retention_lines

case_app = typer.Typer(help="Open, inspect and close cases.", **PLAIN)


def _details(
    patient: str,
    dob: str,
    email: str,
    phone: str,
    diagnosis: str,
    icd10: str,
    policy: str,
    treating_doctor: str = "",
    language: Language | None = None,
    sex: Sex | None = None,
    questions: list[str] | None = None,
) -> dict[str, Any]:
    """The member's details, checked here first so that a mistake is named before anything is sent.

    A language or sex not given is not sent: a new case reads English, a replaced sheet keeps
    the case's own.
    """
    from datetime import date

    from pydantic import ValidationError

    from models.intake import PatientIntake

    try:
        dob_date = date.fromisoformat(dob)
    except ValueError:
        raise UserError(f"--dob {dob!r} is not a date (YYYY-MM-DD)") from None
    chosen = {k: v.value for k, v in {"language": language, "sex": sex}.items() if v is not None}
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
            questions=questions or [],
            **chosen,
        )
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UserError(f"{where}: {first['msg']}" if where else first["msg"]) from None
    omitted = {"language", "sex"} - chosen.keys()
    return intake.model_dump(mode="json", exclude=omitted)


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
    language: Annotated[
        Language, typer.Option(case_sensitive=False, help="The member's language: notices and portal")
    ] = Language.EN,
    sex: Annotated[Sex | None, typer.Option(case_sensitive=False, help="Shown to the specialist")] = None,
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
    question: Annotated[
        list[str] | None, typer.Option(help="The member's question for the specialist (repeatable, up to 5)")
    ] = None,
) -> None:
    """Open a case. The PHI goes to the encrypted store; the workflow gets references."""

    def run() -> None:
        body = {
            "program": program,
            "details": _details(
                patient, dob, email, phone, diagnosis, icd10, policy, treating_doctor, language, sex, question
            ),
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
        api = Api()
        try:
            status = api.request("GET", case_path(case_id))
        except ApiRefused as exc:
            # An erased case the server keeps no history of any more: what its stub says.
            erased = erased_status(api, case_id) if exc.status == 404 else None
            if erased is None:
                raise
            if as_json:
                out.print_json(json.dumps({"case_id": case_id, "erasure": erased}))
            else:
                print_erased(erased)
            return
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
    attention: Annotated[
        bool, typer.Option("--attention", help="Only cases that ask the desk to look at them")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
) -> None:
    """Cases from the case read model, newest first (what each case last showed; never its history)."""

    def run() -> None:
        query = {
            "stage": stage.value if stage else None,
            "program": program,
            "overdue": overdue,
            "due_within": due_within,
            "attention": attention,
            "limit": limit,
        }
        cases = Api().request("GET", "/api/v1/cases", query=query)["cases"]
        table = Table("case", "stage", "program", "specialty", "SLA", "due", "status", "attention")
        for c in cases:
            table.add_row(
                c["case_id"],
                c["stage"],
                c["program"],
                c["specialty"],
                c["sla_state"],
                at_desk(c["due_at"]),
                c["status"],
                c.get("attention") or "",
            )
        out.print(table)
        out.print(f"{len(cases)} case(s)")

    command(run)


@case_app.command("cancel")
def case_cancel(case_id: str, reason: Annotated[str, typer.Option()]) -> None:
    """Cancel a case, with a reason (supervisors)."""
    post(case_id, "cancel", {"reason": reason})


@case_app.command("close")
def case_close(case_id: str) -> None:
    """Close a case after its report (and any booked consult)."""
    post(case_id, "close")


@case_app.command("override")
def case_override(case_id: str, reason: Annotated[str, typer.Option()]) -> None:
    """Override an eligibility refusal, with a reason (supervisors; audited)."""
    post(case_id, "override", {"reason": reason})


@case_app.command("third-opinion")
def case_third_opinion(case_id: str) -> None:
    """Request a third opinion from a different specialist (billed to the customer)."""
    post(case_id, "third-opinion")


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
    language: Annotated[
        Language | None, typer.Option(case_sensitive=False, help="Default: the case's language stays")
    ] = None,
    sex: Annotated[Sex | None, typer.Option(case_sensitive=False, help="Default: as on file")] = None,
) -> None:
    """Replace the member's details (the team is notified)."""

    def run() -> None:
        body = _details(patient, dob, email, phone, diagnosis, icd10, policy, language=language, sex=sex)
        print_ack(Api().request("PUT", f"{case_path(case_id)}/details", body=body))

    command(run)


@case_app.command("language")
def case_language(
    case_id: str,
    language: Annotated[Language, typer.Argument(case_sensitive=False, help="en or km")],
) -> None:
    """Change the language of a case: every later notice and page to the member follows it."""
    command(
        lambda: print_ack(
            Api().request("POST", f"{case_path(case_id)}/details", body={"language": language.value})
        )
    )


@case_app.command("audit")
def case_audit(case_id: str) -> None:
    """The append-only audit trail of a case: who did what, when, with what outcome."""
    command(lambda: _print_audit(Api().request("GET", f"{case_path(case_id)}/audit")["events"], case_id))


def audit_cmd(
    action: Annotated[str | None, typer.Option(help="e.g. codec.decode, document.download")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 200,
) -> None:
    """The audit trail across cases, including decrypt requests to the codec endpoint."""
    # `smo audit`, a top-level command: starter.cli registers it beside the service commands.
    query = {"action": action, "limit": limit}
    command(lambda: _print_audit(Api().request("GET", "/api/v1/audit", query=query)["events"]))


# ---- rendering -------------------------------------------------------------------------


def _print_audit(rows: list[dict[str, Any]], case_id: str | None = None) -> None:
    table = Table("at", "case", "actor", "action", "outcome", "detail")
    for row in rows:
        table.add_row(
            at_desk(row["at"], seconds=True),
            row["case_id"] or "",
            row["actor"],
            row["action"],
            row["outcome"],
            row["detail"],
        )
    out.print(table)
    if not rows:
        out.print("no audit events" + (f" for {case_id}" if case_id else ""))


def _gathering_lines(status: dict[str, Any]) -> list[str]:
    """Releases, requests to providers and translations, and what the completeness check lacks."""
    lines, g = [], status.get("gathering") or {}
    for r in g.get("releases", []):
        state = "revoked" if r["revoked_at"] else f"until {r['expires_on']}"
        lines.append(
            f"release {r['release_no']} ({r['source']}): {', '.join(r['types']) or 'all records'}, {state}"
        )
    for q in g.get("requests", []):
        lines.append(
            f"request {q['request_no']} (release {q['release_no']}): {q['state']}, {', '.join(q['types'])};"
            f" sent {at_desk(q['sent_at'])}, {q['reminders']} reminder(s)"
            + (", desk told" if q["escalated"] else "")
        )
    for t in g.get("translations", []):
        due = f"due {at_desk(t['due_at'])}" if t["due_at"] else "late, desk told"
        done = "translated" if t["translation_doc_id"] else "waived" if t.get("waived") else due
        lines.append(f"translation of {t['doc_id'][:12]} ({t['language']}): {done}")
    if status.get("records_unmet"):
        lines.append(f"completeness check lacks: {', '.join(status['records_unmet'])}")
    return lines


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
    for line in _gathering_lines(status):
        out.print(f"  {line}", markup=False, highlight=False)
    if status["specialist_id"]:
        out.print(f"  specialist: {status['specialist_id']} ({status['specialty']})")
    sla = status["sla"]
    if sla["due_at"]:
        out.print(
            f"  SLA {sla['state']}: due {at_desk(sla['due_at'])} "
            f"({sla['working_days']} working days, {sla['elapsed_working_days']} used)"
        )
    if status["reassignment_offered"]:
        out.print("  [red]SLA breached: reassignment offered[/] (smo specialist assign CASE ID)")
    if status["report_doc_ids"]:
        out.print(
            f"  reports: {len(status['report_doc_ids'])}; consults booked {status['consults_booked']},"
            f" held {status['consults_completed']}"
        )
    _print_consult(status)
    for line in retention_lines(status):
        out.print(f"  {line}", markup=False, highlight=False)
    if timeline:
        table = Table("at", "stage", "event", "detail")
        for t in status["timeline"]:
            table.add_row(at_desk(t["at"], seconds=True), t["stage"], t["event"], t["detail"])
        out.print(table)


def _print_consult(status: dict[str, Any]) -> None:
    """The booked consult at the desk's clock, the free rebookings owed and an outcome awaited.

    `.get`: a server from before consults were numbered sends none of these.
    """
    if status.get("consult_pending"):
        number, sequence = status.get("consult_number") or 0, status.get("consult_sequence") or 0
        at = at_desk(status.get("consult_at")) or "time not kept"
        line = f"  consult {f'#{number} ' if number else ''}booked: {at}"
        line += f" (invitation sequence {sequence})" if sequence else ""
        if status.get("consult_outcome_asked"):
            line += f"; outcome awaited (smo consult complete {status['case_id']} --outcome ...)"
        out.print(line, markup=False, highlight=False)
    if status.get("consult_rebook_free"):
        out.print(f"  free rebookings owed: {status['consult_rebook_free']}", markup=False, highlight=False)
