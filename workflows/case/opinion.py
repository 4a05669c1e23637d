"""The report, and with it the opinion in two forms: the full report for the treating doctor,
and for the member a summary with an answer to each of their questions, and the outcome.

The summary and the answers are an encrypted sheet the case only checks is there; the case
keeps its id, the number of answers and the outcome's codes, and the case DB gets one row per
report (`record_opinion`) for the outcomes report. A case whose member asked questions takes
no report without an answer to each. The SLA is met at submission, as it always was.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.case import RecordType, Stage, SubmitReport, UpdateAck
    from models.opinion import GiveOpinion, Opinion, OpinionRecord

from workflows.case.effects import EffectsMixin
from workflows.case.options import DB, expect


class OpinionStage(EffectsMixin):
    @workflow.update
    async def submit_report(self, req: SubmitReport) -> UpdateAck:
        async with self._lock:
            self._still_valid(lambda: self._validate_report(req))
            await self._register([req.document])
            # The opinion the report carries, or the one given ahead of it (the API's two calls).
            opinion = req.opinion or self.s.pending_opinion
            self.s.pending_opinion = None
            if opinion is not None:
                # Only a report with an opinion runs these: a report from before them replays as it ran.
                if opinion.sheet_doc_id is not None:
                    await self._check_stored(opinion.sheet_doc_id)
                now = workflow.now()
                self.s.opinion = opinion.model_copy(update={"at": now})
                if opinion.outcome is not None:
                    record = OpinionRecord(
                        case_id=self._inp.case_id,
                        program=self._inp.program,
                        reported_at=now,
                        specialist_id=req.specialist_id,
                        outcome=opinion.outcome,
                    )
                    await workflow.execute_local_activity("record_opinion", record, **DB)
            self._round().report = req.document
        return self._ack("report accepted")

    @submit_report.validator
    def _validate_report(self, req: SubmitReport) -> None:
        expect(req, SubmitReport)
        self._require_stage(Stage.UNDER_REVIEW)
        review = self._round()
        if self.s.next_assignment is not None or review.declined:
            raise ValueError("the case is being reassigned")
        if req.specialist_id != review.specialist_id:
            raise ValueError("that is not the assigned specialist")
        if req.document.record_type is not RecordType.SMO_REPORT:
            raise ValueError("the document must be of type smo_report")
        if review.report is not None:
            raise ValueError("a report has already been submitted")
        self._check_answers(req.opinion or self.s.pending_opinion)

    def _check_answers(self, opinion: Opinion | None) -> None:
        asked = self._questions_asked()
        answered = opinion.answers if opinion is not None else 0
        if answered < asked:
            unanswered = ", ".join(str(n) for n in range(answered + 1, asked + 1))
            raise ValueError(f"the member asked {asked} question(s): no answer to question {unanswered}")
        if answered > asked:
            raise ValueError(f"the member asked {asked} question(s); the report answers {answered}")

    @workflow.update
    async def give_opinion(self, req: GiveOpinion) -> UpdateAck:
        """The opinion ahead of its report: kept until the report comes (a newer one replaces it)."""
        async with self._lock:
            self._still_valid(lambda: self._validate_opinion(req))
            if req.opinion.sheet_doc_id is not None:
                await self._check_stored(req.opinion.sheet_doc_id)
            self.s.pending_opinion = req.opinion
            self._note("opinion given", f"by {req.by}")
        return self._ack("the opinion waits for its report")

    @give_opinion.validator
    def _validate_opinion(self, req: GiveOpinion) -> None:
        expect(req, GiveOpinion)
        self._require_stage(Stage.UNDER_REVIEW)
        review = self._round()
        if req.specialist_id != review.specialist_id:
            raise ValueError("that is not the assigned specialist")
        if review.report is not None:
            raise ValueError("a report has already been submitted")
        self._check_answers(req.opinion)
