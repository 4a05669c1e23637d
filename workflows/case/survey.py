"""The member's survey after the report (models/survey.py): due a day after the report's delivery
on cases opened with it (`CaseInput.survey`, set by the case service: a case opened before it
replays as it ran), reminded once, then lapsed; answered once, by the member's signed link. The
answers go to the case DB for the outcomes report.

The clock runs beside the stages (`_survey_clock`) and waits, with no timer, until a survey is
due; it sends from the consult window, where a long case continues as new at its idle points.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.case import Stage, UpdateAck
    from models.notices import NoticeKind
    from models.survey import SEND_AFTER, AnswerSurvey, SendSurvey, SurveyRecord

from workflows.case.effects import EffectsMixin
from workflows.case.options import DB, expect, next_deadline


class SurveyStage(EffectsMixin):
    def _plan_survey(self) -> None:
        """With the report: the member's survey is due a day later, on cases that have one."""
        if self._inp.survey and self.s.survey.due_at is None:
            self.s.survey.due_at = workflow.now() + SEND_AFTER

    async def _survey_clock(self) -> None:
        survey = self.s.survey
        while True:
            await next_deadline(survey.next_instant, "survey")
            if survey.sent_at is None:
                survey.sent_at = workflow.now()
                self._queue_notice("survey", self._notice(NoticeKind.SURVEY, "1", params={"n": "1"}))
            elif not survey.reminded:
                survey.reminded = True
                self._queue_notice("survey", self._notice(NoticeKind.SURVEY, "2", params={"n": "2"}))
            else:
                survey.lapsed = True
                self._note("survey lapsed")
            self._changed()

    @workflow.update
    def send_survey(self, req: SendSurvey) -> UpdateAck:
        """The desk sends the survey now (after a telephone consult, say), not a day after the report."""
        self.s.survey.due_at = workflow.now()
        self._note("survey requested", f"by {req.by}")
        return self._ack("the survey goes out now")

    @send_survey.validator
    def _validate_send_survey(self, req: SendSurvey) -> None:
        expect(req, SendSurvey)
        self._require_stage(Stage.REPORT_DELIVERED, Stage.CONSULT)
        if not self._inp.survey:
            raise ValueError("this case was opened before the member survey")
        if self.s.survey.sent_at is not None:
            raise ValueError("the survey has been sent already")

    @workflow.update
    async def answer_survey(self, req: AnswerSurvey) -> UpdateAck:
        async with self._lock:
            self._still_valid(lambda: self._validate_survey(req))
            if req.comment_doc_id is not None:
                await self._check_stored(req.comment_doc_id)
            survey, now = self.s.survey, workflow.now()
            survey.answered_at, survey.satisfaction, survey.will_follow = (
                now,
                req.satisfaction,
                req.will_follow,
            )
            record = SurveyRecord(
                case_id=self._inp.case_id,
                program=self._inp.program,
                answered_at=now,
                satisfaction=req.satisfaction,
                will_follow=req.will_follow,
            )
            await workflow.execute_local_activity("record_survey", record, **DB)
            self._note("survey answered", f"by {req.by}")
        return self._ack("thank you")

    @answer_survey.validator
    def _validate_survey(self, req: AnswerSurvey) -> None:
        expect(req, AnswerSurvey)
        survey = self.s.survey
        if survey.sent_at is None:
            raise ValueError("the case has sent no survey yet")
        if survey.answered_at is not None:
            raise ValueError("the survey is answered already")
        if survey.lapsed:
            raise ValueError("the survey has closed")
