"""The case list: a visibility query over the cases' search attributes, never their histories.

Stage, program, SLA state and deadline are search attributes the case publishes (none
carries PHI), so a list costs the visibility store one query, however many cases run.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from temporalio.client import Client

from models import search
from models.api import CaseSummary
from models.case import Stage
from service.errors import UserError


def parse_duration(text: str) -> timedelta:
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    text = text.strip().lower()
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise UserError(f"{text!r} is not a duration like 2d, 36h or 1w")
    try:
        value = timedelta(**{units[text[-1]]: int(text[:-1])})
    except OverflowError:
        raise UserError(f"{text!r} is too long a duration") from None
    if value > timedelta(days=3660):
        raise UserError(f"{text!r} is too long a duration (at most 10 years)")
    return value


def list_query(
    *,
    stage: Stage | None = None,
    program: str | None = None,
    overdue: bool = False,
    due_within: timedelta | None = None,
    now: datetime | None = None,
    scope: Collection[str] = (),
) -> str:
    """The visibility query; a non-empty `scope` (a token's programs) is part of it, not a filter after."""
    now = now or datetime.now(UTC)
    parts = ["WorkflowType = 'SmoCase'"]
    if stage:
        parts.append(f"SmoStage = '{stage.value}'")
    if program:
        if not program.replace("-", "").isalnum():
            raise UserError(f"{program!r} is not a program name")
        parts.append(f"SmoProgram = '{program}'")
    if overdue:
        parts.append(
            "(SmoSlaState = 'BREACHED' OR (SmoStage = 'UNDER_REVIEW' AND SmoSlaState != 'PAUSED'"
            f" AND SmoSlaDeadline < '{now.isoformat()}'))"
        )
    if due_within is not None:
        parts.append(
            "SmoStage = 'UNDER_REVIEW' AND SmoSlaState IN ('RUNNING', 'WARNING')"
            f" AND SmoSlaDeadline <= '{(now + due_within).isoformat()}'"
        )
    if scope:
        parts.append("SmoProgram IN (" + ", ".join(f"'{p}'" for p in sorted(scope)) + ")")
    return " AND ".join(parts)


async def list_cases(client: Client, query: str, limit: int) -> list[CaseSummary]:
    cases = []
    async for wf in client.list_workflows(query, limit=limit):
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
    return cases
