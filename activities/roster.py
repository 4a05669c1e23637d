"""Specialist assignment: specialty match, board certification, capacity and conflict check.

A rejection is a business answer, so it is raised as a non-retryable ApplicationError
that the workflow (or the coordinator's update) reports as is.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection, Engine, Row, insert, select, update
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.db import Assignment, Specialist, SpecialistLoad, table, upsert_insert, values_of
from models.roster import AssignmentResult, AssignRequest, ReleaseRequest

# The request/result models live in models/ (the workflow imports them); re-exported here.
__all__ = ["AssignRequest", "AssignmentResult", "ReleaseRequest", "RosterActivities", "SpecialtyMap"]


def end_assignments(conn: Connection, case_id: str, outcome: str, at: datetime) -> Counter[str]:
    """End the case's active assignment (there is at most one); returns the change to its
    specialist's load (−1), for `change_loads`. A retry finds none active, so nothing is
    ended, or taken off a load, twice."""
    assignments = table(Assignment)
    ended = conn.scalars(
        update(assignments)
        .where(assignments.c.case_id == case_id, assignments.c.status == "active")
        .values(status=outcome, ended_at=at)
        .returning(assignments.c.specialist_id)
    )
    changes: Counter[str] = Counter()
    changes.subtract(ended)
    return changes


def change_loads(conn: Connection, changes: Mapping[str, int]) -> None:
    """Add to specialists' active counts, in the transaction that changed their assignments,
    so the counts and the rows cannot disagree. In order of specialist: two transactions that
    move cases between the same two specialists lock the rows in the same order (PostgreSQL)
    rather than each wait on the other."""
    loads = table(SpecialistLoad)
    upsert = upsert_insert(conn)
    for specialist_id, change in sorted(changes.items()):
        if change > 0:
            conn.execute(
                upsert(loads)
                .values(specialist_id=specialist_id, active=change)
                .on_conflict_do_update(
                    index_elements=["specialist_id"], set_={"active": loads.c.active + change}
                )
            )
        elif change < 0:
            conn.execute(
                update(loads)
                .where(loads.c.specialist_id == specialist_id)
                .values(active=loads.c.active + change)
            )


class SpecialtyMap:
    """ICD-10 prefix → specialty; the longest matching prefix wins."""

    def __init__(self, prefixes: dict[str, str]) -> None:
        self.prefixes = dict(sorted(prefixes.items(), key=lambda kv: -len(kv[0])))

    @classmethod
    def load(cls, path: Path) -> SpecialtyMap:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls({str(k).upper(): str(v) for k, v in raw.items()})

    def specialty_for(self, icd10: str) -> str:
        code = icd10.upper()
        for prefix, specialty in self.prefixes.items():
            if code.startswith(prefix):
                return specialty
        return "internal_medicine"


# An eligible specialist as auto-assignment weighs them: (free slots, specialist id, roster row).
_Candidate = tuple[int, str, Row[Any]]


def _most_free_then_lowest_id(candidate: _Candidate) -> tuple[int, list[int]]:
    """The `max` key that picks whom auto-assignment gives the case.

    The specialist with the most free slots (capacity less active cases); among equals,
    the lowest id ("SP-ONC-001" before "SP-ONC-002"), found by `max` through the id's
    negated character codes. One quirk is kept as it always was: an id that merely
    extends another ("SP-10" beside "SP-1") counts as the lower of the two.
    """
    free, specialist_id, _ = candidate
    return free, [-ord(c) for c in specialist_id]


def _reject(message: str, kind: str = "SpecialistRejected") -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


class RosterActivities:
    def __init__(self, engine: Engine, specialties: SpecialtyMap) -> None:
        self.engine = engine
        self.specialties = specialties
        # Capacity is checked then taken: one assignment at a time in this worker, and a row
        # lock on the chosen specialist (PostgreSQL) across workers.
        self._lock = threading.Lock()

    # SQLAlchemy Core on one connection: the ORM's identity map and unit of work cost more
    # than these few reads and two writes.
    @staticmethod
    def _active_load(conn: Connection, specialist_id: str) -> int:
        loads = table(SpecialistLoad)
        return int(conn.scalar(select(loads.c.active).where(loads.c.specialist_id == specialist_id)) or 0)

    @staticmethod
    def _loads(conn: Connection, specialty: str) -> dict[str, int]:
        """Active assignments per specialist of a specialty: one row each (specialist_loads),
        however many cases are open."""
        loads, specialists = table(SpecialistLoad), table(Specialist)
        rows = conn.execute(
            select(loads.c.specialist_id, loads.c.active)
            .join(specialists, specialists.c.specialist_id == loads.c.specialist_id)
            .where(specialists.c.specialty == specialty)
        )
        return {specialist_id: active for specialist_id, active in rows}

    @staticmethod
    def _problems(sp: Row[Any], specialty: str, req: AssignRequest, load: int) -> list[str]:
        problems = []
        if not sp.active:
            problems.append("is not active on the roster")
        if sp.specialty != specialty:
            problems.append(f"is a {sp.specialty} specialist, the case needs {specialty}")
        if not sp.board_certified:
            problems.append("is not US board-certified")
        if load >= sp.capacity:
            problems.append(f"is at capacity ({sp.capacity} active cases)")
        if req.treating_institution and (sp.affiliation.casefold() == req.treating_institution.casefold()):
            problems.append("is affiliated with the treating institution (conflict of interest)")
        if sp.specialist_id in req.exclude:
            problems.append("has already been assigned to this case")
        return problems

    def _assign(self, req: AssignRequest) -> AssignmentResult:
        specialty = self.specialties.specialty_for(req.icd10)
        assignments, specialists = table(Assignment), table(Specialist)
        with self.engine.begin() as conn:
            done = conn.execute(
                select(assignments.c.specialist_id, assignments.c.assignment_no).where(
                    assignments.c.case_id == req.case_id, assignments.c.assignment_no == req.assignment_no
                )
            ).first()
            if done is not None:
                return AssignmentResult(
                    specialist_id=done.specialist_id, specialty=specialty, assignment_no=done.assignment_no
                )
            if req.requested_id:
                chosen = conn.execute(
                    select(specialists).where(specialists.c.specialist_id == req.requested_id)
                ).first()
                if chosen is None:
                    raise _reject(f"specialist {req.requested_id} is not on the roster")
                problems = self._problems(
                    chosen, specialty, req, self._active_load(conn, chosen.specialist_id)
                )
                if problems:
                    raise _reject(f"specialist {chosen.specialist_id} " + "; ".join(problems))
            else:
                candidates = conn.execute(
                    select(specialists).where(specialists.c.specialty == specialty)
                ).all()
                loads = self._loads(conn, specialty)
                eligible: list[_Candidate] = [
                    (sp.capacity - loads.get(sp.specialist_id, 0), sp.specialist_id, sp)
                    for sp in candidates
                    if not self._problems(sp, specialty, req, loads.get(sp.specialist_id, 0))
                ]
                if not eligible:
                    raise _reject(
                        f"no {specialty} specialist is available (board-certified, with capacity,"
                        " without conflict)",
                        "NoSpecialistAvailable",
                    )
                chosen = max(eligible, key=_most_free_then_lowest_id)[2]
            # Lock the chosen specialist's row (PostgreSQL; SQLite serialises writers) and
            # re-check capacity under the lock before taking the slot.
            conn.execute(
                select(specialists.c.specialist_id)
                .where(specialists.c.specialist_id == chosen.specialist_id)
                .with_for_update()
            ).one()
            if self._active_load(conn, chosen.specialist_id) >= chosen.capacity:
                # Auto-assignment retries and picks someone else; a coordinator's choice is refused.
                raise ApplicationError(
                    f"specialist {chosen.specialist_id} has just reached capacity",
                    type="Busy",
                    non_retryable=req.requested_id is not None,
                )
            changes = end_assignments(conn, req.case_id, req.previous_outcome, datetime.now(UTC))
            changes[chosen.specialist_id] += 1
            row = Assignment(
                case_id=req.case_id, assignment_no=req.assignment_no, specialist_id=chosen.specialist_id
            )
            conn.execute(insert(assignments), values_of(row))
            change_loads(conn, changes)
            return AssignmentResult(
                specialist_id=chosen.specialist_id, specialty=specialty, assignment_no=req.assignment_no
            )

    @activity.defn(name="assign_specialist")
    async def assign_specialist(self, req: AssignRequest) -> AssignmentResult:
        def locked() -> AssignmentResult:
            with self._lock:
                return self._assign(req)

        return await asyncio.to_thread(locked)

    def specialty_for(self, icd10: str) -> str:
        return self.specialties.specialty_for(icd10)
