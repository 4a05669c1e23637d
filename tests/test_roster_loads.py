"""A specialist's load (specialist_loads) moves with the assignments, in the same transaction:
assigned, reassigned, released at close, never twice on a retry, and capacity is checked
against it. Each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.cases import CaseActivities
from activities.roster import RosterActivities
from models.case import CaseOutcome, Stage
from models.db import Assignment, SpecialistLoad, table
from models.roster import AssignRequest
from tests import scenario
from worker import Services


def loads(engine: Engine) -> dict[str, int]:
    """What specialist_loads says, leaving out specialists with nothing active."""
    t = table(SpecialistLoad)
    with engine.connect() as conn:
        return {sid: n for sid, n in conn.execute(select(t.c.specialist_id, t.c.active)) if n}


def counted(engine: Engine) -> dict[str, int]:
    """What the assignments say."""
    t = table(Assignment)
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.specialist_id, func.count()).where(t.c.status == "active").group_by(t.c.specialist_id)
        )
        return {sid: n for sid, n in rows}


@pytest.fixture
def activities(services: Services) -> tuple[RosterActivities, CaseActivities]:
    return (
        RosterActivities(services.engine, services.specialties),
        CaseActivities(services.engine, services.programs, services.specialties),
    )


async def open_case(services: Services, cases: CaseActivities, case_id: str) -> None:
    await ActivityEnvironment().run(cases.register_case, scenario.case_input(services, case_id))


async def test_a_load_follows_assignment_reassignment_and_close_and_a_retry_counts_nothing(
    services: Services, activities: tuple[RosterActivities, CaseActivities]
) -> None:
    roster, cases = activities
    env = ActivityEnvironment()
    await open_case(services, cases, "KH-LOAD-1")
    first_ask = AssignRequest(case_id="KH-LOAD-1", icd10="C50.912", assignment_no=1)
    first = await env.run(roster.assign_specialist, first_ask)
    assert loads(services.engine) == counted(services.engine) == {first.specialist_id: 1}

    assert await env.run(roster.assign_specialist, first_ask) == first  # a retry of the same round
    assert loads(services.engine) == {first.specialist_id: 1}

    second = await env.run(
        roster.assign_specialist,
        AssignRequest(case_id="KH-LOAD-1", icd10="C50.912", assignment_no=2, exclude=[first.specialist_id]),
    )
    assert second.specialist_id != first.specialist_id
    assert loads(services.engine) == counted(services.engine) == {second.specialist_id: 1}

    closed = CaseOutcome(case_id="KH-LOAD-1", stage=Stage.CLOSED)
    await env.run(cases.record_outcome, closed)
    await env.run(cases.record_outcome, closed)  # recorded again: released once
    assert loads(services.engine) == counted(services.engine) == {}


async def test_a_specialist_at_capacity_is_refused_until_one_of_their_cases_closes(
    services: Services, activities: tuple[RosterActivities, CaseActivities]
) -> None:
    roster, cases = activities
    env = ActivityEnvironment()
    # SP-ONC-003 takes two active cases (data/specialists.yaml).
    for n in (1, 2, 3):
        await open_case(services, cases, f"KH-CAP-{n}")
    for n in (1, 2):
        ask = AssignRequest(
            case_id=f"KH-CAP-{n}", icd10="C50.912", assignment_no=1, requested_id="SP-ONC-003"
        )
        await env.run(roster.assign_specialist, ask)
    third = AssignRequest(case_id="KH-CAP-3", icd10="C50.912", assignment_no=1, requested_id="SP-ONC-003")
    with pytest.raises(ApplicationError, match=r"is at capacity \(2 active cases\)"):
        await env.run(roster.assign_specialist, third)
    assert loads(services.engine) == counted(services.engine) == {"SP-ONC-003": 2}

    await env.run(cases.record_outcome, CaseOutcome(case_id="KH-CAP-1", stage=Stage.CLOSED))
    assert (await env.run(roster.assign_specialist, third)).specialist_id == "SP-ONC-003"
    assert loads(services.engine) == counted(services.engine) == {"SP-ONC-003": 2}
