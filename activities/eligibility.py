"""Eligibility of a new SMO case against its program's rules.

`evaluate` is a pure function over the program, the request, the policy and the
life assured's earlier cases; it returns every reason that applies so the
coordinator sees the whole picture at once. `EligibilityActivities` wraps it as
the `check_eligibility` Temporal activity (policy lookup, case history, audit),
and `check_now` runs the same evaluation synchronously for the CLI dry run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

import sqlalchemy
from pydantic import AfterValidator
from sqlalchemy import or_
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.case import (
    EligibilityDecision,
    EligibilityRequest,
    Frozen,
    Reason,
    Stage,
)
from models.db import CaseRow, Policy, table
from models.program import Program, UnknownProgramError, get_program
from runtime.db import audit

__all__ = [
    "NOT_COUNTING_STAGES",
    "EligibilityActivities",
    "EligibilityRequest",
    "PolicyLookup",
    "PolicyRecord",
    "PriorCase",
    "SqlPolicyLookup",
    "UnknownExclusionError",
    "check_now",
    "condition_key",
    "evaluate",
    "load_prior_cases",
]

# Earlier cases in these stages never produced an opinion, so they do not use
# up the life assured's one SMO for that condition.
NOT_COUNTING_STAGES = frozenset({Stage.CANCELLED.value, Stage.INELIGIBLE.value})

IN_FORCE = "in_force"


class UnknownExclusionError(ValueError):
    """An asserted exclusion names no rule or permit of the program."""


def _utc(value: datetime) -> datetime:
    # SQLite (and a timestamp-without-zone column) hand back naive datetimes
    # that were written as UTC; comparing them to aware ones would raise.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


class PolicyRecord(Frozen):
    policy_number: str
    program: str
    status: str
    in_force_from: date
    in_force_to: date | None = None


class PriorCase(Frozen):
    case_id: str
    stage: str
    condition_key: str
    opened_at: UtcDatetime
    life_assured_ref: str

    @property
    def order(self) -> tuple[datetime, str]:
        # case_id breaks ties so two cases opened in the same instant still
        # have one "first" and do not refuse each other.
        return (self.opened_at, self.case_id)


def condition_key(icd10: str) -> str:
    """The ICD-10 category ("C50" for "C50.912"): one SMO per category per life assured."""
    return icd10.strip().upper()[:3]


# ---- the pure evaluation -----------------------------------------------------------------


def _policy_problem(policy: PolicyRecord | None, request: EligibilityRequest, today: date) -> str | None:
    number = request.policy_number
    if policy is None:
        return f"policy {number} was not found"
    if policy.program != request.program:
        return f"policy {number} belongs to program {policy.program}"
    if policy.status != IN_FORCE:
        until = f", in force until {policy.in_force_to}" if policy.in_force_to else ""
        return f"policy {number} is {policy.status.replace('_', ' ')}{until}"
    if today < policy.in_force_from:
        return f"policy {number} is in force only from {policy.in_force_from}"
    if policy.in_force_to is not None and today > policy.in_force_to:
        return f"policy {number} ended on {policy.in_force_to}"
    return None


def _follow_up_problem(
    program: Program, request: EligibilityRequest, prior_cases: Sequence[PriorCase]
) -> str | None:
    link = request.follow_up_of
    if link is None:
        return None
    if not program.follow_up_allowed:
        return f"requested as a follow-up of case {link}"
    target = next(
        (p for p in prior_cases if p.case_id == link and p.case_id != request.case_id),
        None,
    )
    if target is None:
        return f"case {link} was not found in this program"
    if target.life_assured_ref != request.life_assured_ref:
        return f"case {link} belongs to another life assured"
    if target.stage in NOT_COUNTING_STAGES:
        return f"case {link} was {target.stage.lower()}"
    return None


def _first_case(request: EligibilityRequest, prior_cases: Sequence[PriorCase]) -> PriorCase | None:
    """The earliest counting case of the same life assured for the same condition."""
    own = next((p for p in prior_cases if p.case_id == request.case_id), None)
    key = condition_key(request.icd10)
    earlier = [
        p
        for p in prior_cases
        if p.case_id != request.case_id
        and p.life_assured_ref == request.life_assured_ref
        and p.stage not in NOT_COUNTING_STAGES
        and p.condition_key.upper() == key
        # Without a row for this case yet, every stored case is earlier.
        and (own is None or p.order < own.order)
    ]
    return min(earlier, key=lambda p: p.order, default=None)


def evaluate(
    program: Program,
    request: EligibilityRequest,
    policy: PolicyRecord | None,
    prior_cases: Sequence[PriorCase],
    *,
    today: date,
) -> EligibilityDecision:
    """Every reason `request` is refused under `program`, in the program's rule order.

    `prior_cases` are the life assured's cases in this program (the case being
    checked may be among them: its `opened_at` decides which cases are
    earlier) plus the case named by `follow_up_of`, whoever it belongs to.
    Raises UnknownExclusionError for an asserted exclusion the program does
    not know, rather than guessing what the coordinator meant.
    """
    if request.program != program.name:
        raise ValueError(f"request is for program {request.program!r}, not {program.name!r}")
    facts = request.facts
    unknown = sorted(
        t for t in facts.exclusions if program.resolve_exclusion(t) is None and not program.is_permitted(t)
    )
    if unknown:
        raise UnknownExclusionError(
            f"unknown exclusion {', '.join(map(repr, unknown))} for program {program.name}; "
            f"known: {', '.join(program.exclusion_aliases())}"
        )
    asserted = {r.code for t in facts.exclusions if (r := program.resolve_exclusion(t))}

    follow_up_problem = _follow_up_problem(program, request, prior_cases)
    valid_follow_up = request.follow_up_of is not None and follow_up_problem is None

    reasons: list[Reason] = []
    first_case_id: str | None = None
    for rule in program.eligibility.rules:
        if rule.check == "policy_in_force":
            problem = _policy_problem(policy, request, today)
            if problem:
                reasons.append(Reason(code=rule.code, text=f"{rule.text} ({problem})"))
        elif rule.check == "follow_up":
            if follow_up_problem:
                reasons.append(Reason(code=rule.code, text=f"{rule.text} ({follow_up_problem})"))
        elif rule.check == "one_per_condition":
            # A valid follow-up continues the earlier case instead of opening
            # a second opinion on the same condition.
            first = None if valid_follow_up else _first_case(request, prior_cases)
            if first is not None:
                first_case_id = first.case_id
                detail = (
                    f"condition {condition_key(request.icd10)} already has "
                    f"a Second Medical Opinion case: {first.case_id}"
                )
                reasons.append(Reason(code=rule.code, text=f"{rule.text} ({detail})"))
        elif (
            rule.code in asserted
            or any(f.holds(facts) for f in rule.facts)
            or rule.matches_icd10(request.icd10)
        ):
            reasons.append(Reason(code=rule.code, text=rule.text))
    return EligibilityDecision(eligible=not reasons, reasons=reasons, first_case_id=first_case_id)


# ---- data access -------------------------------------------------------------------------


@runtime_checkable
class PolicyLookup(Protocol):
    """Where policies come from: the embedded table here, the insurer's API in production."""

    async def get(self, policy_number: str) -> PolicyRecord | None: ...


def _policy_from_db(engine: sqlalchemy.Engine, policy_number: str) -> PolicyRecord | None:
    policies = table(Policy)
    with engine.connect() as conn:
        row = conn.execute(
            sqlalchemy.select(
                policies.c.policy_number,
                policies.c.program,
                policies.c.status,
                policies.c.in_force_from,
                policies.c.in_force_to,
            ).where(policies.c.policy_number == policy_number)
        ).first()
    return None if row is None else PolicyRecord.model_validate(row._asdict())


class SqlPolicyLookup:
    """Policies from the `policies` table (seeded from data/policies.yaml)."""

    def __init__(self, engine: sqlalchemy.Engine) -> None:
        self._engine = engine

    async def get(self, policy_number: str) -> PolicyRecord | None:
        return await asyncio.to_thread(_policy_from_db, self._engine, policy_number)


def load_prior_cases(engine: sqlalchemy.Engine, request: EligibilityRequest) -> list[PriorCase]:
    """The life assured's cases in the request's program, plus the follow-up target if any."""
    cases = table(CaseRow)
    same_person = cases.c.life_assured_ref == request.life_assured_ref
    where = or_(same_person, cases.c.case_id == request.follow_up_of) if request.follow_up_of else same_person
    query = sqlalchemy.select(
        cases.c.case_id, cases.c.stage, cases.c.condition_key, cases.c.opened_at, cases.c.life_assured_ref
    ).where(cases.c.program == request.program, where)
    with engine.connect() as conn:
        return [PriorCase.model_validate(row._asdict()) for row in conn.execute(query)]


def _today(program: Program, now: datetime) -> date:
    # Policy dates are the insurer's local dates.
    return now.astimezone(ZoneInfo(program.sla.timezone)).date()


def check_now(
    engine: sqlalchemy.Engine,
    programs: Mapping[str, Program],
    request: EligibilityRequest,
    *,
    now: datetime | None = None,
) -> EligibilityDecision:
    """Evaluate synchronously without Temporal and without writing anything (CLI dry run).

    Raises UnknownProgramError or UnknownExclusionError on bad input.
    """
    program = get_program(programs, request.program)
    policy = _policy_from_db(engine, request.policy_number)
    prior = load_prior_cases(engine, request)
    return evaluate(program, request, policy, prior, today=_today(program, now or datetime.now(UTC)))


# ---- the activity ------------------------------------------------------------------------


def _codes(decision: EligibilityDecision) -> str:
    return ",".join(r.code for r in decision.reasons)


def _outcome(prefix: str, codes: str) -> str:
    text = f"{prefix}: {codes}"
    # audit_events.outcome holds 64 characters; the full list is in `detail`.
    return text if len(text) <= 64 else text[:61] + "..."


def _write_audit(
    engine: sqlalchemy.Engine,
    request: EligibilityRequest,
    decision: EligibilityDecision,
) -> None:
    codes = _codes(decision)
    detail = f"program={request.program} codes={codes or '-'}"
    if decision.first_case_id:
        detail += f" first_case_id={decision.first_case_id}"
    audit(
        engine,
        actor=request.by,
        action="eligibility.check",
        outcome="eligible" if decision.eligible else _outcome("refused", codes),
        case_id=request.case_id,
        detail=detail,
    )
    if request.override_reason and not decision.eligible:
        # Only recorded here; the workflow applies the override.
        audit(
            engine,
            actor=request.by,
            action="eligibility.override",
            outcome=_outcome("requested", codes),
            case_id=request.case_id,
            detail=f"codes={codes} reason={request.override_reason}",
        )


class EligibilityActivities:
    """Activities for the eligibility stage; clients are injected so tests can swap them."""

    def __init__(
        self,
        engine: sqlalchemy.Engine,
        programs: Mapping[str, Program],
        policies: PolicyLookup,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._programs = programs
        self._policies = policies
        self._clock = clock

    @activity.defn(name="check_eligibility")
    async def check_eligibility(self, request: EligibilityRequest) -> EligibilityDecision:
        """Evaluate the request, audit the decision, and return the true evaluation.

        An override reason never changes the returned decision: it is audited
        next to the refusal and applied by the workflow.
        """
        try:
            program = get_program(self._programs, request.program)
        except UnknownProgramError as exc:
            raise ApplicationError(str(exc), non_retryable=True, type="UnknownProgram") from exc
        policy = await self._policies.get(request.policy_number)
        prior = await asyncio.to_thread(load_prior_cases, self._engine, request)
        try:
            decision = evaluate(program, request, policy, prior, today=_today(program, self._clock()))
        except UnknownExclusionError as exc:
            raise ApplicationError(str(exc), non_retryable=True, type="UnknownExclusion") from exc
        await asyncio.to_thread(_write_audit, self._engine, request, decision)
        return decision
