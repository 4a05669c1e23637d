"""The case row in the case DB: registered at intake, closed with its outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import Engine, select, update
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.roster import SpecialtyMap, change_loads, end_assignments
from models.case import CaseInput, CaseOutcome, Registered, Stage
from models.db import CaseRow, SlaRound, insert_new, table, values_of
from models.follow_up import FollowUpRoundRecord
from models.follow_up_table import FollowUpRound
from models.opinion import OpinionRecord
from models.opinion_table import OpinionOutcome
from models.program import Program
from models.sla import SlaRoundRecord
from models.survey import SurveyRecord
from models.survey_table import SurveyAnswerRow
from runtime import metrics


class CaseActivities:
    def __init__(self, engine: Engine, programs: Mapping[str, Program], specialties: SpecialtyMap) -> None:
        self.engine = engine
        self.programs = programs
        self.specialties = specialties

    def _register(self, inp: CaseInput) -> Registered:
        program = self.programs.get(inp.program)
        if program is None:
            raise ApplicationError(
                f"unknown program {inp.program!r}", type="UnknownProgram", non_retryable=True
            )
        row = CaseRow(
            case_id=inp.case_id,
            program=inp.program,
            policy_number=inp.policy_number,
            life_assured_ref=inp.life_assured_ref,
            condition_key=inp.icd10[:3],
            icd10=inp.icd10,
            stage=Stage.INTAKE.value,
            follow_up_of=inp.follow_up_of,
        )
        with self.engine.begin() as conn:
            inserted = insert_new(conn, CaseRow, [values_of(row)], ["case_id"])
        if inserted:  # a retry finds its row and counts nothing
            metrics.case_opened(inp.program)
        return Registered(terms=program.terms(), specialty=self.specialties.specialty_for(inp.icd10))

    def _record(self, outcome: CaseOutcome) -> None:
        cases = table(CaseRow)
        now = datetime.now(UTC)
        closed_now = None
        with self.engine.begin() as conn:
            row = conn.execute(
                select(cases.c.program, cases.c.closed_at).where(cases.c.case_id == outcome.case_id)
            ).first()
            if row is None:
                return
            values: dict[str, object] = {"stage": outcome.stage.value}
            if outcome.eligible is not None:
                values["eligible"] = outcome.eligible
            if outcome.stage.terminal:
                if row.closed_at is None:  # counted once, however often the outcome is recorded
                    values["closed_at"] = closed_now = now
                ended = "completed" if outcome.stage is Stage.CLOSED else "released"
                change_loads(conn, end_assignments(conn, outcome.case_id, ended, now))
            conn.execute(update(cases).where(cases.c.case_id == outcome.case_id).values(**values))
        if closed_now is not None:
            metrics.case_closed(row.program, outcome.stage)

    def _record_round(self, rec: SlaRoundRecord) -> None:
        # Idempotent on (case_id, assignment_no): the first write of a round wins. A retry, or a
        # second worker running the same attempt, meets the unique constraint and inserts
        # nothing (`insert_new`: one ON CONFLICT DO NOTHING statement, no window between a
        # look-up and an insert); only the attempt that inserted the row counts the round.
        values = {
            "case_id": rec.case_id,
            "program": rec.program,
            "assignment_no": rec.assignment_no,
            "specialist_id": rec.specialist_id,
            "working_days": rec.working_days,
            "calendars": ",".join(rec.calendars),
            "received_at": rec.received_at,
            "due_at": rec.due_at,
            "ended_at": rec.ended_at,
            "outcome": rec.outcome.value,
            "warned": rec.warned,
            "breached": rec.breached,
            "paused_working_days": rec.paused_working_days,
        }
        with self.engine.begin() as conn:
            inserted = insert_new(conn, SlaRound, [values], ["case_id", "assignment_no"]) == 1
        if inserted:
            metrics.sla_round(rec)

    @activity.defn(name="register_case")
    async def register_case(self, inp: CaseInput) -> Registered:
        return await asyncio.to_thread(self._register, inp)

    @activity.defn(name="record_outcome")
    async def record_outcome(self, outcome: CaseOutcome) -> None:
        await asyncio.to_thread(self._record, outcome)

    def _record_opinion(self, rec: OpinionRecord) -> None:
        # Idempotent on (case, reported_at): a retry meets the primary key and inserts nothing.
        values = {
            "case_id": rec.case_id,
            "reported_at": rec.reported_at,
            "program": rec.program,
            "specialist_id": rec.specialist_id,
            "diagnosis": rec.outcome.diagnosis.value,
            "treatment": rec.outcome.treatment.value,
            "surgery_avoided": rec.outcome.surgery_avoided,
        }
        with self.engine.begin() as conn:
            insert_new(conn, OpinionOutcome, [values], ["case_id", "reported_at"])

    @activity.defn(name="record_opinion")
    async def record_opinion(self, rec: OpinionRecord) -> None:
        await asyncio.to_thread(self._record_opinion, rec)

    def _record_survey(self, rec: SurveyRecord) -> None:
        with self.engine.begin() as conn:  # idempotent per case: a retry inserts nothing
            insert_new(conn, SurveyAnswerRow, [rec.model_dump()], ["case_id"])

    @activity.defn(name="record_survey")
    async def record_survey(self, rec: SurveyRecord) -> None:
        await asyncio.to_thread(self._record_survey, rec)

    def _record_follow_up_round(self, rec: FollowUpRoundRecord) -> None:
        values = rec.model_dump() | {"calendars": ",".join(rec.calendars)}
        with self.engine.begin() as conn:  # idempotent per question: a retry inserts nothing
            insert_new(conn, FollowUpRound, [values], ["case_id", "n"])

    @activity.defn(name="record_follow_up_round")
    async def record_follow_up_round(self, rec: FollowUpRoundRecord) -> None:
        await asyncio.to_thread(self._record_follow_up_round, rec)

    @activity.defn(name="record_sla_round")
    async def record_sla_round(self, rec: SlaRoundRecord) -> None:
        await asyncio.to_thread(self._record_round, rec)
