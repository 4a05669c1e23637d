"""The case list: a visibility query over the cases' search attributes, never their histories.

Stage, program, SLA state and deadline are search attributes the case publishes (none
carries PHI), so a list costs the visibility store one query, however many cases run.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from temporalio.client import Client

from models import search
from models.api import CaseSummary
from models.case import Stage
from service.errors import UserError

# A count (up to four digits) and a unit; ASCII only (`str.isdigit` also takes "²", which
# `int` refuses). The API's schema states the same pattern.
DURATION_PATTERN = r"^[0-9]{1,4}[mhdw]$"
_DURATION = re.compile(DURATION_PATTERN)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# A program name as the program files spell it (models.program_fields): all the query may quote.
_PROGRAM = re.compile(r"[a-z][a-z0-9-]{1,39}")


def parse_duration(text: str) -> timedelta:
    """`2d`, `36h`, `90m` or `1w` (at most 9999 of the unit); the refusal does not repeat the text."""
    value = text.strip().lower()
    if not _DURATION.fullmatch(value):
        raise UserError("not a duration: a whole number (up to 9999) of m, h, d or w, such as 2d, 36h or 1w")
    return timedelta(**{_UNITS[value[-1]]: int(value[:-1])})


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
        if not _PROGRAM.fullmatch(program):
            raise UserError("the program must be a program's name, such as prudential-kh")
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
