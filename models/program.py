"""SMO programs as data: one strict YAML file per program under `programs/`.

A program carries the turnaround SLA, the records checklist, consult and
third-opinion pricing, and the eligibility rules quoted from the insurer's or
assistance company's published terms (the "seed" document). Files are validated
at start-up so a typo fails the service loudly instead of mis-deciding a case.
The workflow only ever sees the `ProgramTerms` snapshot returned by `terms()`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from models.case import EligibilityFacts, ProgramTerms, RecordType

__all__ = [
    "PRODUCT_SOURCE",
    "Check",
    "ConsultsConfig",
    "Eligibility",
    "FactTrigger",
    "NoReimbursementNotice",
    "Permit",
    "Program",
    "ProgramConfigError",
    "RecordsConfig",
    "Rule",
    "SlaConfig",
    "ThirdOpinionConfig",
    "UnknownProgramError",
    "get_program",
    "icd10_matcher",
    "load_program",
    "load_programs",
]

# A rule whose wording is the product's own, not a quote from the seed document.
PRODUCT_SOURCE = "product"

_NAME = r"^[a-z][a-z0-9-]{1,39}$"
_CODE = r"^[a-z][a-z0-9._-]{0,23}$"
_ALIAS = r"^[a-z][a-z0-9_]{1,39}$"
_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
# An ICD-10 entry is a prefix of a code: a chapter letter ("F"), a category
# ("B20", "Z3A"), a category with part of its subdivision ("Z41.1", "J09.X2"),
# or a range of three-character categories within one letter ("J00-J06").
# After the dot, "?" stands for any one character, so that the intent digit of
# an ICD-10-CM poisoning code can be read ("T36-T65.??2": intentional
# self-harm); "X" stays the literal ICD-10-CM placeholder.
_ICD_ENTRY = re.compile(
    r"^(?P<head>[A-Z](?:[0-9][0-9A-Z]?)?|[A-Z][0-9]{2}-[A-Z][0-9]{2})"
    r"(?:\.?(?P<tail>[0-9A-Z?]{1,4}))?$"
)
_ICD_RANGE = re.compile(r"^([A-Z])([0-9]{2})-([A-Z])([0-9]{2})$")

ProgramName = Annotated[str, StringConstraints(pattern=_NAME)]
RuleCode = Annotated[str, StringConstraints(pattern=_CODE)]
Alias = Annotated[str, StringConstraints(pattern=_ALIAS)]
Text = Annotated[str, StringConstraints(min_length=3, max_length=1000, strip_whitespace=True)]


class ProgramConfigError(ValueError):
    """A program file is missing, unreadable or invalid; the message names file and field."""


class UnknownProgramError(LookupError):
    """A case or command named a program that is not configured."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- SLA, records, consults -------------------------------------------------------------


def _calendar_code(value: str) -> str:
    # Imported lazily: the calendar module pulls in workalendar, which nothing
    # else in this module needs.
    from calendars.working_days import known_calendar_codes

    code = value.strip().upper()
    if code not in known_calendar_codes():
        raise ValueError(f"unknown calendar code {value!r}; use KH, US or US-<state> (e.g. US-TX)")
    return code


class SlaConfig(Strict):
    """Report turnaround: N working days from receipt of complete records."""

    working_days: int = Field(ge=1, le=60)
    calendars: list[str] = Field(default_factory=lambda: ["KH", "US"], min_length=1)
    timezone: str = "Asia/Phnom_Penh"
    close_of_business: Annotated[str, StringConstraints(pattern=_HHMM)] = "17:00"
    warn_ratio: float | None = Field(default=0.8, gt=0, lt=1)

    @field_validator("calendars")
    @classmethod
    def _known_calendars(cls, value: list[str]) -> list[str]:
        codes = [_calendar_code(v) for v in value]
        if len(set(codes)) != len(codes):
            raise ValueError("calendar codes must not repeat")
        return codes

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Phnom_Penh)") from exc
        return value


class RecordsConfig(Strict):
    """The records the specialist needs before the SLA clock starts."""

    required: list[RecordType] = Field(min_length=1)
    document_cap: int | None = Field(default=None, ge=1)
    late_documents_allowed: bool = False
    # Fractions are allowed (0.5 = every 12 hours); days are calendar days, not working days.
    reminder_every_days: float = Field(default=3, gt=0)
    reminders_before_lapse: int = Field(default=3, ge=0)

    @field_validator("required")
    @classmethod
    def _inputs_only(cls, value: list[RecordType]) -> list[RecordType]:
        if RecordType.SMO_REPORT in value:
            raise ValueError("smo_report is the specialist's output, not a required record")
        if len(set(value)) != len(value):
            raise ValueError("record types must not repeat")
        return value


def _unlimited(value: Any) -> Any:
    # "unlimited" reads better in YAML than null; both mean no cap.
    return None if isinstance(value, str) and value.strip().lower() == "unlimited" else value


class ConsultsConfig(Strict):
    """Telephone consults with the reviewing doctor after the report."""

    free: Annotated[int | None, BeforeValidator(_unlimited)] = Field(default=1, ge=0)
    price_cents: int = Field(ge=0)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "USD"
    window_days: int = Field(default=30, ge=1)


class ThirdOpinionConfig(Strict):
    enabled: bool = False
    price_cents: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _priced_when_enabled(self) -> ThirdOpinionConfig:
        if self.enabled and self.price_cents is None:
            raise ValueError("price_cents is required when the third opinion is enabled")
        return self


class NoReimbursementNotice(Strict):
    """The "this service does not pay for treatment" paragraph of the report email."""

    enabled: bool = False
    text: Text | None = None

    @model_validator(mode="after")
    def _text_when_enabled(self) -> NoReimbursementNotice:
        if self.enabled and not self.text:
            raise ValueError("text is required when the notice is enabled")
        return self


# ---- eligibility rules -------------------------------------------------------------------


class FactTrigger(StrEnum):
    """A coordinator-asserted fact (models.case.EligibilityFacts) that triggers a rule."""

    EMERGENCY = "emergency"
    CRITICAL_CARE = "critical_care"
    COMMON_ISSUE = "common_issue"
    NO_PRIOR_DIAGNOSIS = "no_prior_diagnosis"
    NOT_COMPLEX = "not_complex"

    def holds(self, facts: EligibilityFacts) -> bool:
        match self:
            case FactTrigger.EMERGENCY:
                return facts.emergency
            case FactTrigger.CRITICAL_CARE:
                return facts.critical_care
            case FactTrigger.COMMON_ISSUE:
                return facts.common_issue
            case FactTrigger.NO_PRIOR_DIAGNOSIS:
                return not facts.prior_diagnosis
            case FactTrigger.NOT_COMPLEX:
                return not facts.complex_condition


Check = Literal["policy_in_force", "one_per_condition", "follow_up"]


def _entry_pattern(entry: str) -> str:
    m = _ICD_ENTRY.match(entry)
    if m is None:
        raise ValueError(f"{entry!r} is not an ICD-10 prefix")
    head, tail = m.group("head"), m.group("tail") or ""
    ranged = _ICD_RANGE.match(head)
    if ranged:
        letter, start, _, end = ranged.groups()
        head_pattern = "(?:" + "|".join(f"{letter}{n:02d}" for n in range(int(start), int(end) + 1)) + ")"
    else:
        if "?" in tail and len(head) < 3:
            raise ValueError(f"{entry!r}: '?' may only follow a full three-character category")
        head_pattern = head
    return head_pattern + "".join("." if ch == "?" else ch for ch in tail)


def icd10_matcher(entries: Iterable[str]) -> re.Pattern[str] | None:
    """One regular expression matching a dot-less code that starts with any of `entries`."""
    patterns = [_entry_pattern(e) for e in entries]
    return re.compile("^(?:" + "|".join(patterns) + ")") if patterns else None


def _normalise_code(icd10: str) -> str:
    return icd10.strip().upper().replace(".", "")


@lru_cache(maxsize=256)
def _compiled(entries: tuple[str, ...]) -> re.Pattern[str] | None:
    # Programs are loaded once and evaluated for every case: compile each
    # rule's entries once.
    return icd10_matcher(entries)


class Rule(Strict):
    """One eligibility rule: a refusal reason and what triggers it.

    A rule fires when any of its triggers holds: a fact flag, the coordinator
    asserting its code or alias in `EligibilityFacts.exclusions`, or the case's
    ICD-10 code starting with one of `icd10` and with none of `icd10_except`. Rules with a `check` are
    evaluated by the service itself (policy status, case history) and cannot
    be asserted.
    """

    code: RuleCode
    text: Text  # verbatim from the seed when source is the seed file
    source: str
    alias: Alias | None = None
    facts: list[FactTrigger] = []
    icd10: list[str] = []
    # Codes inside an `icd10` entry that the rule must not refuse (e.g. influenza
    # that has reached the heart or brain is no "daily or common issue").
    icd10_except: list[str] = []
    check: Check | None = None

    @field_validator("icd10", "icd10_except")
    @classmethod
    def _icd10_prefixes(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for raw in value:
            entry = raw.strip().upper()
            m = _ICD_RANGE.match(entry.split(".")[0])
            if m:
                letter, start, letter2, end = m.groups()
                if letter != letter2 or int(start) > int(end):
                    raise ValueError(f"{raw!r}: a range must stay within one letter, low to high")
            if not _ICD_ENTRY.match(entry):
                raise ValueError(
                    f"{raw!r} is not an ICD-10 prefix (e.g. F, B20, Z41.1, J00-J06, T36-T65.??2)"
                )
            _entry_pattern(entry)  # refuses a misplaced "?"
            out.append(entry)
        return out

    @model_validator(mode="after")
    def _except_narrows_a_trigger(self) -> Rule:
        if self.icd10_except and not self.icd10:
            raise ValueError(f"rule {self.code!r}: icd10_except narrows icd10, which is empty")
        return self

    @model_validator(mode="after")
    def _check_rules_stand_alone(self) -> Rule:
        if self.check is not None and (self.alias or self.facts or self.icd10):
            raise ValueError(
                f"rule {self.code!r}: a '{self.check}' check is evaluated by the service "
                "and takes no alias, facts or icd10 triggers"
            )
        return self

    @property
    def assertable(self) -> bool:
        return self.check is None

    def matches_icd10(self, icd10: str) -> bool:
        code = _normalise_code(icd10)
        hit = _compiled(tuple(self.icd10))
        if hit is None or not hit.match(code):
            return False
        spared = _compiled(tuple(self.icd10_except))
        return spared is None or not spared.match(code)


class Permit(Strict):
    """An exclusion alias the program explicitly does NOT refuse (e.g. pre-existing).

    Listing it lets a coordinator assert it without the request being rejected
    as unknown, and documents the seed sentence that grants it.
    """

    alias: Alias
    text: Text
    source: str


class Eligibility(Strict):
    rules: list[Rule] = Field(min_length=1)
    permits: list[Permit] = []

    @field_validator("rules")
    @classmethod
    def _unique_rules(cls, rules: list[Rule]) -> list[Rule]:
        seen: dict[str, int] = {}
        for i, rule in enumerate(rules):
            for name in filter(None, (rule.code, rule.alias)):
                if name in seen:
                    raise ValueError(
                        f"duplicate rule code or alias {name!r} (rules[{seen[name]}] and rules[{i}])"
                    )
                seen[name] = i
        checks = [r.check for r in rules if r.check]
        for check in set(checks):
            if checks.count(check) > 1:
                raise ValueError(f"more than one rule with check '{check}'")
        for needed in ("policy_in_force", "follow_up"):
            if needed not in checks:
                raise ValueError(f"a rule with check '{needed}' is required")
        return rules

    @model_validator(mode="after")
    def _permits_distinct(self) -> Eligibility:
        names = {r.code for r in self.rules} | {r.alias for r in self.rules if r.alias}
        for permit in self.permits:
            if permit.alias in names:
                raise ValueError(f"permit {permit.alias!r} is also a rule code or alias")
        return self


# ---- the program -------------------------------------------------------------------------


class Program(Strict):
    name: ProgramName
    title: Text
    seed: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]+$")]
    sla: SlaConfig
    records: RecordsConfig
    consults: ConsultsConfig
    third_opinion: ThirdOpinionConfig = ThirdOpinionConfig()
    follow_up_allowed: bool = False
    one_per_condition: bool = False
    portal_intake: bool = False  # members may request an opinion themselves through the portal's form
    override_window_days: int = Field(default=14, ge=1)
    no_reimbursement_notice: NoReimbursementNotice = NoReimbursementNotice()
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
