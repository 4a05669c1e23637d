"""Specialist assignment: specialty match, board certification, capacity and conflict check.

A rejection is a business answer, so it is raised as a non-retryable ApplicationError
that the workflow (or the coordinator's update) reports as is.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path

import yaml
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.db import Assignment, Specialist
from models.roster import AssignmentResult, AssignRequest, ReleaseRequest

# The request/result models live in models/ (the workflow imports them); re-exported here.
__all__ = ["AssignRequest", "AssignmentResult", "ReleaseRequest", "RosterActivities", "SpecialtyMap"]


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


def _reject(message: str, kind: str = "SpecialistRejected") -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


class RosterActivities:
    def __init__(self, engine: Engine, specialties: SpecialtyMap) -> None:
        self.engine = engine
        self.specialties = specialties
        # Capacity is checked then taken: one assignment at a time in this worker, and a row
        # lock on the chosen specialist (PostgreSQL) across workers.
        self._lock = threading.Lock()

    def _active_load(self, session: Session, specialist_id: str) -> int:
        return session.exec(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.specialist_id == specialist_id, Assignment.status == "active")
        ).one()

    def _loads(self, session: Session, specialty: str) -> dict[str, int]:
        """Active assignments per specialist of a specialty, in one query for the whole list."""
        rows = session.exec(
            select(Assignment.specialist_id, func.count())
            .join(Specialist, col(Specialist.specialist_id) == col(Assignment.specialist_id))
            .where(Specialist.specialty == specialty, Assignment.status == "active")
            .group_by(col(Assignment.specialist_id))
        )
        return {specialist_id: count for specialist_id, count in rows}

    def _problems(
        self, session: Session, sp: Specialist, specialty: str, req: AssignRequest, load: int | None = None
    ) -> list[str]:
        problems = []
        if not sp.active:
            problems.append("is not active on the roster")
        if sp.specialty != specialty:
            problems.append(f"is a {sp.specialty} specialist, the case needs {specialty}")
        if not sp.board_certified:
            problems.append("is not US board-certified")
        if (self._active_load(session, sp.specialist_id) if load is None else load) >= sp.capacity:
            problems.append(f"is at capacity ({sp.capacity} active cases)")
        if req.treating_institution and (sp.affiliation.casefold() == req.treating_institution.casefold()):
            problems.append("is affiliated with the treating institution (conflict of interest)")
        if sp.specialist_id in req.exclude:
            problems.append("has already been assigned to this case")
        return problems

    def _assign(self, req: AssignRequest) -> AssignmentResult:
        specialty = self.specialties.specialty_for(req.icd10)
        with Session(self.engine) as session:
            done = session.exec(
                select(Assignment).where(
                    Assignment.case_id == req.case_id, Assignment.assignment_no == req.assignment_no
                )
            ).first()
            if done is not None:
                return AssignmentResult(
                    specialist_id=done.specialist_id,
                    specialty=specialty,
                    assignment_no=done.assignment_no,
                )
            if req.requested_id:
                chosen = session.get(Specialist, req.requested_id)
                if chosen is None:
                    raise _reject(f"specialist {req.requested_id} is not on the roster")
                problems = self._problems(session, chosen, specialty, req)
                if problems:
                    raise _reject(f"specialist {chosen.specialist_id} " + "; ".join(problems))
            else:
                candidates = session.exec(select(Specialist).where(Specialist.specialty == specialty)).all()
                loads = self._loads(session, specialty)
                eligible = [
                    (sp.capacity - loads.get(sp.specialist_id, 0), sp.specialist_id, sp)
                    for sp in candidates
                    if not self._problems(session, sp, specialty, req, loads.get(sp.specialist_id, 0))
                ]
                if not eligible:
                    raise _reject(
                        f"no {specialty} specialist is available (board-certified, with capacity,"
                        " without conflict)",
                        "NoSpecialistAvailable",
                    )
                chosen = max(eligible, key=lambda e: (e[0], [-ord(c) for c in e[1]]))[2]
            # Lock the chosen specialist's row (PostgreSQL; SQLite serialises writers) and
            # re-check capacity under the lock before taking the slot.
            session.exec(
                select(Specialist).where(Specialist.specialist_id == chosen.specialist_id).with_for_update()
            ).one()
            if self._active_load(session, chosen.specialist_id) >= chosen.capacity:
                # Auto-assignment retries and picks someone else; a coordinator's choice is refused.
                raise ApplicationError(
                    f"specialist {chosen.specialist_id} has just reached capacity",
                    type="Busy",
                    non_retryable=req.requested_id is not None,
                )
            now = datetime.now(UTC)
            for previous in session.exec(
                select(Assignment).where(Assignment.case_id == req.case_id, Assignment.status == "active")
            ):
                previous.status = req.previous_outcome
                previous.ended_at = now
                session.add(previous)
            session.add(
                Assignment(
                    case_id=req.case_id,
                    assignment_no=req.assignment_no,
                    specialist_id=chosen.specialist_id,
                )
            )
            session.commit()
            return AssignmentResult(
                specialist_id=chosen.specialist_id,
                specialty=specialty,
                assignment_no=req.assignment_no,
            )

    @activity.defn(name="assign_specialist")
    async def assign_specialist(self, req: AssignRequest) -> AssignmentResult:
        def locked() -> AssignmentResult:
            with self._lock:
                return self._assign(req)

        return await asyncio.to_thread(locked)

    def specialty_for(self, icd10: str) -> str:
        return self.specialties.specialty_for(icd10)
