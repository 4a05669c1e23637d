"""One Second Medical Opinion case, read top to bottom like the programs' process.

intake → eligibility → records → specialist → review under the SLA → report → consult → close

Each stage lives in its own module under `workflows/case/`, with the updates that feed it,
and builds on the core alone; the run below sequences them (consent before each assignment).
Coordinators drive the case through updates (each with a validator, so bad input never
reaches history); updates answer at once and queue their side effects; the SLA clock
escalates on its own. A case that stays open continues as new when its history grows.
History carries references and hashes only.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.case import Cancel, CaseInput, CaseOutcome, CaseResult, CaseStatus, Stage, UpdateAck
    from models.case_state import Phase, ThirdOpinion
    from models.notices import NoticeKind

from workflows.case.confirmation import ConfirmationStage
from workflows.case.consent import ConsentStage
from workflows.case.consult import ConsultStage
from workflows.case.eligibility import EligibilityStage
from workflows.case.opinion import OpinionStage
from workflows.case.options import DB, ESCALATION_PAUSE, CaseCancelled, expect
from workflows.case.portal import PortalLinkStage
from workflows.case.records import RecordsStage
from workflows.case.review import ReviewStage
from workflows.case.view import CaseViewMixin
from workflows.sla import SlaClock

__all__ = ["ESCALATION_PAUSE", "SmoCaseWorkflow"]

FINAL_NOTICES = {
    Stage.CLOSED: NoticeKind.CASE_CLOSED,
    Stage.CANCELLED: NoticeKind.CASE_CANCELLED,
    Stage.LAPSED: NoticeKind.RECORDS_LAPSED,
}


@workflow.defn(name="SmoCase")
class SmoCaseWorkflow(
    # The stages in the order of the programs' process; each builds on the core alone, and
    # the run below sequences them.
    ConfirmationStage,  # a request from the public form, before anything else
    EligibilityStage,
    RecordsStage,
    ConsentStage,
    ReviewStage,  # the specialist and the review round, up to the report
    OpinionStage,  # the report, the member's summary and answers, and the outcome
    ConsultStage,  # report delivery, the consult window, follow-ups, the treating doctor
    PortalLinkStage,
    CaseViewMixin,  # what the case shows, written to the read model as it changes
):
    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseResult:
        # What the case shows goes to the read model as it changes (first: it decides the patch).
        views = self._start_views()
        # Side effects that updates accepted are performed beside the stages, in order.
        effects = asyncio.ensure_future(self._perform_intents())
        # A booked consult's reminders and its question afterwards, on their own timers.
        clock = asyncio.ensure_future(self._consult_clock())
        # Follow-up questions' deadlines: it waits without a timer until a question is asked.
        follow_ups = asyncio.ensure_future(self._follow_up_clock())
        survey = asyncio.ensure_future(self._survey_clock())  # the member's survey, once sent
        life = asyncio.ensure_future(self._lifecycle(inp))
        loops = [effects] if views is None else [effects, views]
        try:
            await workflow.wait([life, *loops], return_when=asyncio.FIRST_COMPLETED)
            for loop in loops:
                if loop.done():
                    loop.result()  # these loops never end by themselves: a bug there fails the task
            if clock.done():
                clock.result()  # nor does the clock, but on a run from before it: a bug fails the task
            return await self._finish(life.result())
        finally:
            effects.cancel()
            clock.cancel()
            follow_ups.cancel()
            survey.cancel()
            if views is not None:
                views.cancel()

    async def _lifecycle(self, inp: CaseInput) -> Stage:
        """The case's stages; a continued run picks up at the phase it was carried in."""
        if self.s.phase is not Phase.OPENING:
            self._publish()  # the UI's details line (search attributes came along already)
        if self.s.phase is Phase.OPENING:
            self._enter(Stage.INTAKE, "opened", f"by {inp.opened_by}", publish=False)
            if self.unconfirmed and not await self._confirmed():
                return Stage.CANCELLED
            await self._register_case()
            self._enter(Stage.ELIGIBILITY, publish=False)
            if not await self._eligible():
                return Stage.CANCELLED if self.s.cancel_reason else Stage.INELIGIBLE
        try:
            if self.s.phase is Phase.OPENING:
                await self._take_form_records()
                self._enter(Stage.GATHERING_RECORDS, detail="missing: " + ", ".join(self._missing()))
                await self._notify(NoticeKind.CASE_OPENED, "1", params={"records": self._records_text()})
                self.s.phase = Phase.RECORDS
            if self.s.phase is Phase.RECORDS:
                if not await self._gather_records():
                    return Stage.LAPSED
                self.s.phase = Phase.REVIEW
            while True:
                if self.s.phase is Phase.REVIEW:
                    await self._review_rounds()
                    await self._deliver_report()
                    self.s.phase = Phase.CONSULT
                if not await self._consult_phase():
                    return Stage.CLOSED
                # A third opinion: a different specialist, a fresh clock, a new report.
                self.s.excluded.append(self._round().specialist_id)
                self.s.round = None
                self.s.consults.third_opinion = ThirdOpinion.NONE
                self.s.phase = Phase.REVIEW
        except CaseCancelled:
            return Stage.CANCELLED

    async def _review_rounds(self) -> None:
        """Review rounds until a report; each new round waits for consent, then an assignment."""
        previous_outcome = "reassigned"
        while True:
            if self.s.round is None:
                await self._await_consent()
                await self._start_round(previous_outcome)
            ended = await self._run_round()
            if ended is None:
                return
            previous_outcome = ended

    async def _finish(self, stage: Stage) -> CaseResult:
        clock = self.clock
        if clock is not None:
            clock.stop()
        self._enter(stage, detail=self.s.cancel_reason or "")
        # What updates queued (a receipt, a team notice) goes out before the case ends.
        await workflow.wait_condition(lambda: not self.s.intents)
        params = {}
        if stage is Stage.CLOSED and self.terms.follow_up_allowed:
            params["item"] = " It stays on file: ask us for a follow-up at any time."
        eligible = self.s.eligibility.eligible if self.s.eligibility else None
        outcome = workflow.execute_local_activity(
            "record_outcome", CaseOutcome(case_id=self._inp.case_id, stage=stage, eligible=eligible), **DB
        )
        # An unconfirmed request from the public form ends as it waited: without a message.
        kind = None if self.unconfirmed else FINAL_NOTICES.get(stage)
        if kind is not None:
            await asyncio.gather(outcome, self._notify(kind, "1", params=params))
        else:
            await outcome
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._final_view()
        return CaseResult(
            case_id=self._inp.case_id, stage=stage, reports=len(self.s.reports), charges=self.s.charges
        )

    @workflow.update
    def cancel(self, req: Cancel) -> UpdateAck:
        self.s.cancel_reason = req.reason
        self._note("cancel requested", f"by {req.by}")
        return self._ack()

    @cancel.validator
    def _validate_cancel(self, req: Cancel) -> None:
        expect(req, Cancel)
        if self.s.charging:
            raise ValueError("a charge to the customer is in progress; cancel once it has finished")
        if self.s.stage.terminal and self.s.stage is not Stage.INELIGIBLE:
            raise ValueError(f"the case is already {self.s.stage.value}")
        if self.s.cancel_reason is not None:
            raise ValueError("the case is already being cancelled")

    @workflow.query
    def status(self) -> CaseStatus:
        s, terms, clock = self.s, self.s.terms, self.clock
        consults, free_left = s.consults, 0
        if terms is not None:
            free_left = (
                999
                if terms.free_consults is None
                else max(terms.free_consults - consults.counted(), 0) + consults.credits
            )
        return CaseStatus(
            case_id=self._inp.case_id,
            program=self._inp.program,
            intake_doc_id=s.intake_doc_id,
            stage=s.stage,
            specialist_id=self.specialist_id,
            specialty=s.specialty,
            records=self._checklist().model_copy(update={"accepting": self._takes_records()}),
            sla=clock.view() if clock else SlaClock.empty_view(),
            consults_booked=s.consults.booked,
            consults_completed=s.consults.completed,
            free_consults_left=free_left,
            consult_pending=s.consults.pending,
            reassignment_offered=bool(s.round and s.round.reassignment_offered),
            eligibility=s.eligibility,
            report_doc_ids=s.reports,
            follow_up_of=self._inp.follow_up_of,
            follow_up_allowed=bool(terms and terms.follow_up_allowed),
            timeline=s.timeline,
            pending=self.pending(),
            timeline_dropped=s.timeline_dropped,
            consent=s.consent,
            consult_open=self._booking_open(),
            consult_at=self._booked_at(),
            consult_number=consults.number if consults.pending else 0,
            consult_sequence=consults.sequence if consults.pending else 0,
            consult_rebook_free=consults.credits,
            consult_outcome_asked=consults.outcome_asked,
            attention=s.attention,
            version=s.view_version,
            opened_at=s.opened_at,
            gathering=s.gathering
            if s.gathering.releases or s.gathering.requests or s.gathering.translations
            else None,
            records_unmet=self._unmet(),
            waiting_on=self._waiting_on(),
            questions=self._questions_asked(),
            opinion=s.opinion,
            follow_ups=s.follow_ups.asked,
            survey=s.survey if s.survey.sent_at is not None else None,
            doctor=s.doctor,
            **(
                {
                    "consult_length_minutes": terms.consult_length_minutes,
                    "consult_notice_working_days": terms.consult_notice_working_days,
                    "calendars": list(terms.calendars),
                }
                if terms is not None
                else {}
            ),
        )
