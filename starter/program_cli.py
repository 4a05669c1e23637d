"""`smo program ...` and `smo eligibility check`: inspect programs and dry-run eligibility.

The eligibility check opens no case and writes nothing but the database schema
and seed data. The diagnosis text is protected health information: it is
required so the command mirrors the intake form, but it is never printed,
logged or stored.
"""

from __future__ import annotations

import json
from typing import Annotated, NoReturn

import typer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.table import Column, Table

from activities.eligibility import (
    EligibilityRequest,
    UnknownExclusionError,
    check_now,
)
from models.case import EligibilityDecision, EligibilityFacts, Icd10
from models.program import (
    Program,
    ProgramConfigError,
    UnknownProgramError,
    get_program,
    load_programs,
)
from models.settings import Settings
from runtime.db import init_db
from starter.cli_common import fail

__all__ = ["eligibility_app", "program_app"]

program_app = typer.Typer(help="Inspect the configured SMO programs.", no_args_is_help=True)
eligibility_app = typer.Typer(help="Check eligibility without opening a case.", no_args_is_help=True)

# The dry run has no patient identity, so it stands in a reference no real
# life assured can have: earlier cases are not consulted.
DRY_RUN_LIFE_ASSURED = "0" * 64
DRY_RUN_CASE_ID = "dry-run"

# Request fields named after the command-line option that feeds them.
_FLAGS = {
    "policy_number": "--policy",
    "life_assured_ref": "--life-assured-ref",
    "icd10": "--icd10",
    "program": "--program",
}

EXIT_REFUSED = 1
EXIT_BAD_INPUT = 2


def _fail(message: str) -> NoReturn:
    # One `error:` line per problem on stderr (a program file can have several), exit 2.
    fail("\nerror: ".join(message.splitlines() or [message]), EXIT_BAD_INPUT)


def _programs(settings: Settings) -> dict[str, Program]:
    try:
        return load_programs(settings.programs_dir)
    except ProgramConfigError as exc:
        _fail(str(exc))


def _program(settings: Settings, name: str) -> Program:
    try:
        return get_program(_programs(settings), name)
    except UnknownProgramError as exc:
        _fail(str(exc))


def _money(cents: int | None, currency: str) -> str:
    return "-" if cents is None else f"{currency} {cents / 100:,.2f}"


# ---- smo program ---------------------------------------------------------------------------


@program_app.command("list")
def list_programs() -> None:
    """List the programs with their turnaround and consult terms."""
    programs = _programs(Settings())
    # Names are what the user types next: never wrap or truncate them.
    table = Table(
        Column("name", no_wrap=True, min_width=14),
        "title",
        "SLA",
        "free consults",
        "third opinion",
        "follow-up",
    )
    for program in programs.values():
        free = "unlimited" if program.consults.free is None else str(program.consults.free)
        third = (
            _money(program.third_opinion.price_cents, program.consults.currency)
            if program.third_opinion.enabled
            else "no"
        )
        table.add_row(
            program.name,
            program.title,
            f"{program.sla.working_days} working days",
            free,
            third,
            "yes" if program.follow_up_allowed else "no",
        )
    Console().print(table)


@program_app.command("show")
def show_program(
    name: Annotated[str, typer.Argument(help="Program name, e.g. prudential-kh.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the program as JSON.")] = False,
) -> None:
    """Show one program: its terms and every eligibility rule."""
    program = _program(Settings(), name)
    if as_json:
        typer.echo(json.dumps(program.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    console = Console()
    terms = Table("term", "value", title=f"{program.name}: {program.title}")
    free = "unlimited" if program.consults.free is None else str(program.consults.free)
    rows = [
        ("seed", program.seed),
        (
            "SLA",
            (
                f"{program.sla.working_days} working days ({', '.join(program.sla.calendars)}; "
                f"{program.sla.timezone}, close of business {program.sla.close_of_business})"
            ),
        ),
        ("required records", ", ".join(program.records.required)),
        ("document cap", str(program.records.document_cap or "none")),
        ("late documents", "yes" if program.records.late_documents_allowed else "no"),
        ("free consults", free),
        (
            "further consult",
            _money(program.consults.price_cents, program.consults.currency),
        ),
        (
            "third opinion",
            _money(program.third_opinion.price_cents, program.consults.currency)
            if program.third_opinion.enabled
            else "not offered",
        ),
        ("follow-up", "allowed" if program.follow_up_allowed else "not allowed"),
        ("one SMO per condition", "yes" if program.one_per_condition else "no"),
        ("override window", f"{program.override_window_days} days"),
        (
            "no-reimbursement notice",
            "yes" if program.no_reimbursement_notice.enabled else "no",
        ),
    ]
    for term, value in rows:
        terms.add_row(term, value)
    console.print(terms)

    rules = Table(
        Column("code", no_wrap=True, min_width=8),
        Column("alias", no_wrap=True),
        "triggers",
        "source",
        "text",
        title="eligibility rules",
    )
    for rule in program.eligibility.rules:
        triggers = [f"fact {f.value}" for f in rule.facts]
        if rule.icd10:
            spared = f" except {', '.join(rule.icd10_except)}" if rule.icd10_except else ""
            triggers.append("ICD-10 " + ", ".join(rule.icd10) + spared)
        if rule.check:
            triggers.append(f"check {rule.check}")
        rules.add_row(rule.code, rule.alias or "", "; ".join(triggers), rule.source, rule.text)
    for permit in program.eligibility.permits:
        rules.add_row("-", permit.alias, "permitted", permit.source, permit.text)
    console.print(rules)


# ---- smo eligibility check -----------------------------------------------------------------


def _icd10(value: str) -> str:
    try:
        return TypeAdapter(Icd10).validate_python(value)
    except ValidationError as exc:
        _fail(f"--icd10: {str(exc.errors()[0]['msg']).removeprefix('Value error, ')}")


def _print_decision(decision: EligibilityDecision) -> None:
    console = Console()
    if decision.eligible:
        console.print("[bold green]ELIGIBLE[/] (dry run: no case opened)")
        return
    console.print("[bold red]REFUSED[/] (dry run: no case opened)")
    table = Table("code", "reason")
    for reason in decision.reasons:
        table.add_row(reason.code, reason.text)
    console.print(table)


@eligibility_app.command("check")
def check(
    program: Annotated[str, typer.Option("--program", help="Program name.")],
    policy: Annotated[str, typer.Option("--policy", help="Policy or membership number.")],
    icd10: Annotated[str, typer.Option("--icd10", help="ICD-10 code, e.g. C50.912.")],
    diagnosis: Annotated[
        str,
        typer.Option(
            "--diagnosis",
            help="Diagnosis as written by the treating doctor (never printed).",
        ),
    ],
    emergency: Annotated[bool, typer.Option("--emergency", help="Medical emergency.")] = False,
    critical_care: Annotated[
        bool,
        typer.Option("--critical-care", help="In critical care, coma or palliative stage."),
    ] = False,
    common_issue: Annotated[
        bool,
        typer.Option("--common-issue", help="Daily or common issue (flu, fever, cut)."),
    ] = False,
    no_prior_diagnosis: Annotated[
        bool,
        typer.Option("--no-prior-diagnosis", help="No diagnosis has been made yet."),
    ] = False,
    not_complex: Annotated[
        bool, typer.Option("--not-complex", help="Not complex, grave or critical.")
    ] = False,
    exclusion: Annotated[
        list[str] | None,
        typer.Option("--exclusion", help="Asserted exclusion alias (repeatable)."),
    ] = None,
    life_assured_ref: Annotated[
        str | None,
        typer.Option(
            "--life-assured-ref",
            help="Life assured reference (hash) to also check earlier cases.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
) -> None:
    """Dry-run the eligibility rules for a prospective case.

    Exit status: 0 eligible, 1 refused, 2 bad input.
    """
    del diagnosis  # PHI: accepted to mirror the intake form, deliberately unused.
    settings = Settings()
    chosen = _program(settings, program)
    code = _icd10(icd10)
    unknown = [
        e for e in exclusion or [] if chosen.resolve_exclusion(e) is None and not chosen.is_permitted(e)
    ]
    if unknown:
        _fail(
            f"--exclusion: unknown alias {unknown[0]!r} for {chosen.name}; "
            f"known: {', '.join(chosen.exclusion_aliases())}"
        )
    try:
        request = EligibilityRequest(
            case_id=DRY_RUN_CASE_ID,
            program=chosen.name,
            policy_number=policy,
            life_assured_ref=life_assured_ref or DRY_RUN_LIFE_ASSURED,
            icd10=code,
            facts=EligibilityFacts(
                emergency=emergency,
                critical_care=critical_care,
                common_issue=common_issue,
                prior_diagnosis=not no_prior_diagnosis,
                complex_condition=not not_complex,
                exclusions=frozenset(e.strip().lower() for e in exclusion or []),
            ),
            by=settings.user or "cli",
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else ""
        flag = _FLAGS.get(name, "input")
        _fail(f"{flag}: {str(err['msg']).removeprefix('Value error, ')}")

    engine = init_db(settings)
    try:
        decision = check_now(engine, {chosen.name: chosen}, request)
    except (UnknownProgramError, UnknownExclusionError) as exc:
        _fail(str(exc))
    finally:
        engine.dispose()

    if as_json:
        payload = {
            "eligible": decision.eligible,
            "reasons": [{"code": r.code, "text": r.text} for r in decision.reasons],
        }
        typer.echo(json.dumps(payload, ensure_ascii=False))
    else:
        _print_decision(decision)
    if not decision.eligible:
        raise typer.Exit(EXIT_REFUSED)
