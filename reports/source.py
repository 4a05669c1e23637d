"""Where the SLA report's facts come from: the case DB, and Temporal visibility for open rounds.

Ended rounds are `sla_rounds` rows. A round still running has no row yet; its live deadline
lives in the case workflow, which publishes it as the `SmoSlaDeadline` search attribute
(stop-the-clock and holiday decrees included) with `SmoSlaState`. So "open past due" is the
running cases whose published deadline is before the report's instant and whose clock is
running, joined with the case DB's active assignment for the specialist and the round number.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client

from calendars import DEFAULT_CALENDARS
from models import search
from models.case import SlaState, case_id_from_workflow_id
from models.db import Assignment, CaseRow, SlaRound, Specialist
from models.report import OpenPastDue, SlaReportRequest
from reports.sla import SlaReportBuilder, working_days_overdue

# Any instant of a local calendar month lies within this margin of the month's UTC bounds.
_ZONE_MARGIN = dt.timedelta(days=2)
# A running clock: a paused one still shows its old deadline, a met one has a report.
_COUNTING = (SlaState.RUNNING, SlaState.WARNING, SlaState.BREACHED)
_PROGRAM_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def ended_rounds(engine: Engine, request: SlaReportRequest) -> list[SlaRound]:
    """Rows that may have ended in the month; the builder keeps those that did, per zone."""
    start = dt.datetime.combine(request.first_day, dt.time(), tzinfo=dt.UTC) - _ZONE_MARGIN
    end = dt.datetime.combine(request.next_first_day, dt.time(), tzinfo=dt.UTC) + _ZONE_MARGIN
    query = select(SlaRound).where(SlaRound.ended_at >= start, SlaRound.ended_at < end)
    if request.program is not None:
        query = query.where(SlaRound.program == request.program)
    with Session(engine) as session:
        return list(session.exec(query))


def specialist_names(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        return {s.specialist_id: s.name for s in session.exec(select(Specialist))}


def visibility_query(request: SlaReportRequest) -> str:
    """The list filter; the program is checked against a strict pattern, never quoted blindly."""
    states = ", ".join(f"'{s.value}'" for s in _COUNTING)
    as_of = request.as_of.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    query = (
        f"WorkflowType = 'SmoCase' AND ExecutionStatus = 'Running' "
        f"AND {search.SLA_DEADLINE.name} < '{as_of}' AND {search.SLA_STATE.name} IN ({states})"
    )
    if request.program is not None:
        if not _PROGRAM_NAME.fullmatch(request.program):
            raise ValueError(f"not a program name: {request.program!r}")
        query += f" AND {search.PROGRAM.name} = '{request.program}'"
    return query


def _active_assignments(engine: Engine, case_ids: Sequence[str]) -> dict[str, Assignment]:
    if not case_ids:
        return {}
    with Session(engine) as session:
        open_cases = select(CaseRow.case_id).where(
            col(CaseRow.case_id).in_(case_ids), col(CaseRow.closed_at).is_(None)
        )
        rows = session.exec(
            select(Assignment).where(
                col(Assignment.case_id).in_(open_cases), Assignment.status == "active"
            )
        )
        active = {a.case_id: a for a in rows}
        ended = {
            (r.case_id, r.assignment_no)
            for r in session.exec(select(SlaRound).where(col(SlaRound.case_id).in_(list(active))))
        }
    # A round whose row is already written ended a moment ago; visibility has not caught up.
    return {c: a for c, a in active.items() if (c, a.assignment_no) not in ended}


async def open_past_due(
    client: Client, engine: Engine, builder: SlaReportBuilder, request: SlaReportRequest
) -> list[OpenPastDue]:
    seen: list[tuple[str, str, dt.datetime, str]] = []
    async for execution in client.list_workflows(visibility_query(request)):
        attrs = execution.typed_search_attributes
        due_at = attrs.get(search.SLA_DEADLINE)
        if due_at is None:
            continue
        program = attrs.get(search.PROGRAM) or ""
        state = attrs.get(search.SLA_STATE) or ""
        seen.append((case_id_from_workflow_id(execution.id), program, due_at, state))
    assignments = _active_assignments(engine, [case_id for case_id, *_ in seen])
    found: list[OpenPastDue] = []
    for case_id, program, due_at, state in seen:
        assignment = assignments.get(case_id)
        if assignment is None:
            continue
        tz, cob = builder.zone_and_cob(program)
        terms = builder.terms.get(program)
        calendars = builder.calendars.calendars(terms.calendars if terms else DEFAULT_CALENDARS)
        found.append(
            OpenPastDue(
                case_id=case_id,
                program=program,
                assignment_no=assignment.assignment_no,
                specialist_id=assignment.specialist_id,
                due_at=due_at,
                sla_state=state,
                working_days_overdue=working_days_overdue(due_at, request.as_of, calendars, tz=tz, cob=cob),
            )
        )
    return found
