"""A program's eligibility rules: why a case is refused, quoted from the program's seed document.

Each rule is a refusal reason with what triggers it (a fact the coordinator asserts, an
ICD-10 prefix, or a check the service runs itself) and the plain words a refused member
reads (`models.program_words`); a permit is an exclusion the program explicitly does not
refuse. `activities.eligibility.evaluate` applies them to a case.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, field_validator, model_validator

from models.case import EligibilityFacts, Frozen
from models.icd10 import compiled_matcher, dotless, icd10_prefix
from models.program_fields import Alias, RuleCode, Text
from models.program_words import MemberWords


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


class Rule(Frozen):
    """One eligibility rule: a refusal reason and what triggers it.

    A rule fires when any of its triggers holds: a fact flag, the coordinator
    asserting its code or alias in `EligibilityFacts.exclusions`, or the case's
    ICD-10 code starting with one of `icd10` and with none of `icd10_except`. Rules with a `check` are
    evaluated by the service itself (policy status, case history) and cannot
    be asserted.
    """

    # The empty lists are spelt Field(default=[]): pydantic copies them per instance as
    # it would a bare [], which ruff takes for a shared class attribute (RUF012) because
    # it cannot see that Frozen, from another module, is a pydantic model.
    code: RuleCode
    text: Text  # verbatim from the seed when source is the seed file
    source: str
    alias: Alias | None = None
    facts: list[FactTrigger] = Field(default=[])
    icd10: list[str] = Field(default=[])
    # Codes inside an `icd10` entry that the rule must not refuse (e.g. influenza
    # that has reached the heart or brain is no "daily or common issue").
    icd10_except: list[str] = Field(default=[])
    check: Check | None = None
    # What the member reads when this rule refuses them, in our own plain words (the seed's
    # `text` is for the desk and the specialist).
    member: MemberWords | None = None

    @field_validator("icd10", "icd10_except")
    @classmethod
    def _icd10_prefixes(cls, value: list[str]) -> list[str]:
        return [icd10_prefix(raw) for raw in value]

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
        code = dotless(icd10)
        hit = compiled_matcher(tuple(self.icd10))
        if hit is None or not hit.match(code):
            return False
        spared = compiled_matcher(tuple(self.icd10_except))
        return spared is None or not spared.match(code)


class Permit(Frozen):
    """An exclusion alias the program explicitly does NOT refuse (e.g. pre-existing).

    Listing it lets a coordinator assert it without the request being rejected
    as unknown, and documents the seed sentence that grants it.
    """

    alias: Alias
    text: Text
    source: str


class Eligibility(Frozen):
    rules: list[Rule] = Field(min_length=1)
    permits: list[Permit] = Field(default=[])  # Field(default=[]): see Rule

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
