"""SMO programs as data: one strict YAML file per program under `programs/`.

A program carries the turnaround SLA, the records checklist, consult and
third-opinion pricing (`models.program_terms`), and the eligibility rules quoted
from the insurer's or assistance company's published terms, the "seed" document
(`models.program_rules`), each with the plain words a refused member reads
(`models.program_words`). Files are validated at start-up so a typo fails the
service loudly instead of mis-deciding a case. The workflow only ever sees the
`ProgramTerms` snapshot returned by `terms()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import Field, StringConstraints, ValidationError, model_validator

from models.case import Frozen, ProgramTerms
from models.program_fields import ProgramName, Text
from models.program_rules import Check, Eligibility, Rule
from models.program_terms import (
    ConsultsConfig,
    FollowUpConfig,
    NoReimbursementNotice,
    RecordsConfig,
    SlaConfig,
    ThirdOpinionConfig,
)
from models.program_words import GENERAL_WORDS, MemberWords
from models.retention import RetentionConfig

__all__ = [
    "PRODUCT_SOURCE",
    "Program",
    "ProgramConfigError",
    "UnknownProgramError",
    "get_program",
    "load_program",
    "load_programs",
]

# A rule whose wording is the product's own, not a quote from the seed document.
PRODUCT_SOURCE = "product"


class ProgramConfigError(ValueError):
    """A program file is missing, unreadable or invalid; the message names file and field."""


class UnknownProgramError(LookupError):
    """A case or command named a program that is not configured."""


# ---- the program -------------------------------------------------------------------------


class Program(Frozen):
    name: ProgramName
    title: Text
    seed: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]+$")]
    sla: SlaConfig
    records: RecordsConfig
    consults: ConsultsConfig
    third_opinion: ThirdOpinionConfig = ThirdOpinionConfig()
    follow_up: FollowUpConfig = FollowUpConfig()
    follow_up_allowed: bool = False
    one_per_condition: bool = False
    portal_intake: bool = False  # members may request an opinion themselves through the portal's form
    # The specialist sees the member's age, sex and diagnosis; their name only where the program
    # requires it (a partner whose specialists must name the patient in the report).
    specialist_sees_name: bool = False
    override_window_days: int = Field(default=14, ge=1)
    no_reimbursement_notice: NoReimbursementNotice = NoReimbursementNotice()
    # How long a closed case's documents and member data are kept, and why: the daily purge
    # erases them after that (models/retention.py). Required: every program states its own.
    retention: RetentionConfig
    eligibility: Eligibility

    @model_validator(mode="after")
    def _consistent(self) -> Program:
        sources = {self.seed, PRODUCT_SOURCE}
        labelled = [(r.code, r.source) for r in self.eligibility.rules]
        labelled += [(p.alias, p.source) for p in self.eligibility.permits]
        for label, source in labelled:
            if source not in sources:
                raise ValueError(
                    f"{label!r}: source must be the seed file {self.seed!r} or {PRODUCT_SOURCE!r}"
                )
        has_rule = self.rule_for_check("one_per_condition") is not None
        if has_rule != self.one_per_condition:
            raise ValueError(
                "one_per_condition is true but no rule has check 'one_per_condition'"
                if self.one_per_condition
                else "a rule has check 'one_per_condition' but one_per_condition is false"
            )
        return self

    # -- rule lookup --

    def rule_for_check(self, check: Check) -> Rule | None:
        return next((r for r in self.eligibility.rules if r.check == check), None)

    def resolve_exclusion(self, token: str) -> Rule | None:
        """The assertable rule named by `token` (code or alias), if any."""
        key = token.strip().lower()
        for rule in self.eligibility.rules:
            if rule.assertable and key in (rule.code, rule.alias):
                return rule
        return None

    def member_words(self, code: str) -> MemberWords:
        """What a member refused under rule `code` reads: the rule's own words, else general ones.

        English: the page or email that shows them translates them with `gettext`.
        """
        rule = next((r for r in self.eligibility.rules if r.code == code), None)
        return rule.member if rule is not None and rule.member is not None else GENERAL_WORDS

    def is_permitted(self, token: str) -> bool:
        key = token.strip().lower()
        return any(p.alias == key for p in self.eligibility.permits)

    def exclusion_aliases(self) -> list[str]:
        """What `--exclusion` accepts: assertable rule aliases (or codes) and permits."""
        names = [r.alias or r.code for r in self.eligibility.rules if r.assertable]
        return names + [p.alias for p in self.eligibility.permits]

    # -- the workflow's snapshot --

    def terms(self) -> ProgramTerms:
        return ProgramTerms(
            name=self.name,
            sla_working_days=self.sla.working_days,
            calendars=list(self.sla.calendars),
            sla_timezone=self.sla.timezone,
            close_of_business=self.sla.close_of_business,
            warn_ratio=self.sla.warn_ratio,
            required_records=list(self.records.required),
            document_cap=self.records.document_cap,
            free_consults=self.consults.free,
            consult_price_cents=self.consults.price_cents,
            third_opinion_price_cents=(
                self.third_opinion.price_cents if self.third_opinion.enabled else None
            ),
            currency=self.consults.currency,
            follow_up_allowed=self.follow_up_allowed,
            late_documents_allowed=self.records.late_documents_allowed,
            reminder_every_days=self.records.reminder_every_days,
            reminders_before_lapse=self.records.reminders_before_lapse,
            consult_window_days=self.consults.window_days,
            override_window_days=self.override_window_days,
            report_notice=(self.no_reimbursement_notice.text if self.no_reimbursement_notice.enabled else ""),
            consult_length_minutes=self.consults.length_minutes,
            consult_notice_working_days=self.consults.notice_working_days,
            recency_days=dict(self.records.recency_days),
            english_required=self.records.english_required,
            chase_every_working_days=self.records.chase_every_working_days,
            chase_times=self.records.chase_times,
            translation_working_days=self.records.translation_working_days,
            follow_up_questions=self.follow_up.questions,
            follow_up_window_days=self.follow_up.window_days,
            follow_up_answer_working_days=self.follow_up.answer_working_days,
        )


# ---- loading -----------------------------------------------------------------------------


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _messages(path: Path, exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors(include_url=False):
        msg = str(err["msg"]).removeprefix("Value error, ")
        where = _loc(tuple(err["loc"]))
        lines.append(f"{path}: {where}: {msg}" if where else f"{path}: {msg}")
    return lines


def load_program(path: Path) -> Program:
    """Read and validate one program file; the program's name must match the file stem."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProgramConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ProgramConfigError(f"{path}: not valid YAML{where}: {problem}") from exc
    if not isinstance(raw, dict):
        kind = "an empty file" if raw is None else type(raw).__name__
        raise ProgramConfigError(f"{path}: expected a mapping of program fields, got {kind}")
    try:
        program = Program.model_validate(raw)
    except ValidationError as exc:
        raise ProgramConfigError("\n".join(_messages(path, exc))) from exc
    if program.name != path.stem:
        raise ProgramConfigError(
            f"{path}: name: {program.name!r} does not match the file name (expected {path.stem!r})"
        )
    return program


def load_programs(directory: Path) -> dict[str, Program]:
    """Load every `*.yaml` in `directory`; all files' errors are reported together."""
    if not directory.is_dir():
        raise ProgramConfigError(f"{directory}: programs directory not found")
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise ProgramConfigError(f"{directory}: no program files (*.yaml)")
    programs: dict[str, Program] = {}
    errors: list[str] = []
    for path in files:
        try:
            program = load_program(path)
        except ProgramConfigError as exc:
            errors.append(str(exc))
            continue
        programs[program.name] = program
    if errors:
        raise ProgramConfigError("\n".join(errors))
    return programs


def get_program(programs: Mapping[str, Program], name: str) -> Program:
    try:
        return programs[name]
    except KeyError:
        known = ", ".join(sorted(programs)) or "none configured"
        raise UnknownProgramError(f"unknown program {name!r}; known programs: {known}") from None
