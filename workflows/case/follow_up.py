"""Follow-up questions after the report (models/follow_up.py): asked within the program's
window and count, each answered within `follow_up_answer_working_days` on the case's calendars,
warned at the report's ratio and escalated at the deadline, as the report is.

The clock runs beside the stages from the case's start (`_follow_up_clock`); it waits, with no
timer, until a question is open, so a case with none replays exactly as before. The case does
not close while a question is unanswered.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.case import Stage, UpdateAck
    from models.follow_up import AnswerFollowUp, AskFollowUp, FollowUp, FollowUpRoundRecord
    from models.notices import Notice, NoticeKind
    from models.sla import DeadlineRequest, SlaRule
    from models.sla_clock import DueDate

from workflows.case.opinion_translation import OpinionTranslationStage
from workflows.case.options import DB, expect, next_deadline
from workflows.sla import LOCAL

FOLLOW_UP_ROUNDS = "follow-up-rounds"


class FollowUpStage(OpinionTranslationStage):
    def _follow_up_open(self) -> bool:
        """A question unanswered, or the member's summary not yet in their language: the case's
        close waits for it."""
        task = self.s.opinion.translation if self.s.opinion is not None else None
        return any(f.open for f in self.s.follow_ups.asked) or (task is not None and task.open)

    @workflow.update
    async def ask_follow_up(self, req: AskFollowUp) -> UpdateAck:
        async with self._lock:
            self._still_valid(lambda: self._validate_ask(req))
            await self._check_stored(req.question_doc_id)
            terms, now = self.terms, workflow.now()
            rule = SlaRule(
                working_days=terms.follow_up_answer_working_days,
                calendars=terms.calendars,
                timezone=terms.sla_timezone,
                close_of_business=terms.close_of_business,
                warn_ratio=terms.warn_ratio,
            )
            due: DueDate = await workflow.execute_local_activity(
                "sla_deadline", DeadlineRequest(rule=rule, received_at=now), result_type=DueDate, **LOCAL
            )
            asked = self.s.follow_ups.asked
            n = len(asked) + 1
            asked.append(
                FollowUp(
                    n=n,
                    question_doc_id=req.question_doc_id,
                    asked_by=req.by,
                    asked_at=now,
                    due_at=due.due_at,
                    warn_at=due.warn_at,
                )
            )
            params = {"n": str(n), "deadline": due.due_at.isoformat()}
            notice = self._notice(NoticeKind.FOLLOW_UP_ASKED, str(n), params=params)
            self._queue_notice(f"follow-up-{n}", notice)
            self._note("follow-up asked", f"{n} by {req.by}")
        return self._ack(f"follow-up {n}")

    @ask_follow_up.validator
    def _validate_ask(self, req: AskFollowUp) -> None:
        expect(req, AskFollowUp)
        self._require_stage(Stage.REPORT_DELIVERED, Stage.CONSULT)
        terms, follow_ups = self.terms, self.s.follow_ups
        if terms.follow_up_questions == 0:
            raise ValueError(f"program {terms.name} takes no follow-up questions")
        if len(follow_ups.asked) >= terms.follow_up_questions:
            raise ValueError(
                f"program {terms.name} answers {terms.follow_up_questions} follow-up question(s);"
                " all have been asked"
            )
        closes = follow_ups.window_closes_at
        if closes is None or workflow.now() >= closes:
            when = closes.date().isoformat() if closes is not None else "before the report"
            raise ValueError(f"the window for follow-up questions closed ({when})")
        if self.s.consults.close_requested:
            raise ValueError("the case is closing")

    @workflow.update
    async def answer_follow_up(self, req: AnswerFollowUp) -> UpdateAck:
        async with self._lock:
            self._still_valid(lambda: self._validate_answer(req))
            await self._check_stored(req.answer_doc_id)
            follow_up = self.s.follow_ups.get(req.n)
            assert follow_up is not None
            now = workflow.now()
            # Each answer is an SLA round of its own kind in the case DB, written before the
            # question shows answered (a close waiting on it must not end the case meanwhile);
            # cases answered before the rounds were kept replay without it.
            if workflow.patched(FOLLOW_UP_ROUNDS):
                record = self._round_of(follow_up, now)
                await workflow.execute_local_activity("record_follow_up_round", record, **DB)
            follow_up.answer_doc_id, follow_up.answered_by = req.answer_doc_id, req.by
            follow_up.answered_at = now
            late = now > follow_up.due_at
            notice = self._notice(NoticeKind.FOLLOW_UP_ANSWERED, str(req.n), params={"n": str(req.n)})
            self._queue_notice(f"follow-up-{req.n}", notice)
            self._note("follow-up answered", f"{req.n} by {req.by}" + (", late" if late else ""))
        return self._ack(f"follow-up {req.n} answered" + (" late" if late else ""))

    def _round_of(self, f: FollowUp, answered_at: datetime) -> FollowUpRoundRecord:
        terms = self.terms
        return FollowUpRoundRecord(
            case_id=self._inp.case_id,
            program=self._inp.program,
            n=f.n,
            specialist_id=self.specialist_id or "",
            working_days=terms.follow_up_answer_working_days,
            calendars=list(terms.calendars),
            asked_at=f.asked_at,
            due_at=f.due_at,
            answered_at=answered_at,
            warned=f.warned,
            breached=f.breached or answered_at > f.due_at,
        )

    @answer_follow_up.validator
    def _validate_answer(self, req: AnswerFollowUp) -> None:
        expect(req, AnswerFollowUp)
        follow_up = self.s.follow_ups.get(req.n)
        if follow_up is None:
            raise ValueError(f"the case has no follow-up question {req.n}")
        if not follow_up.open:
            raise ValueError(f"follow-up question {req.n} is answered already")

    def _after_report_instant(self) -> datetime | None:
        """The next instant of an unanswered question or of the opinion's translation."""
        times = [self.s.follow_ups.next_instant(), self._translation_instant()]
        return min((t for t in times if t is not None), default=None)

    async def _follow_up_clock(self) -> None:
        """Warn before each question's deadline and escalate at it, while it is unanswered; the
        same for the opinion's translation."""
        while True:
            await next_deadline(self._after_report_instant, "follow-up deadline")
            now = workflow.now()
            self._follow_up_due(now)
            await self._translation_due(now)

    def _late(self, kind: NoticeKind, f: FollowUp) -> Notice:
        return self._notice(kind, str(f.n), params={"n": str(f.n), "deadline": f.due_at.isoformat()})

    def _follow_up_due(self, now: datetime) -> None:
        for f in self.s.follow_ups.asked:
            if not f.open:
                continue
            if f.warn_at is not None and not f.warned and now >= f.warn_at:
                f.warned = True
                self._queue_notice(f"follow-up-{f.n}", self._late(NoticeKind.FOLLOW_UP_WARNING, f))
            if not f.breached and now >= f.due_at:
                f.breached = f.warned = True
                self._queue_notice(f"follow-up-{f.n}", self._late(NoticeKind.FOLLOW_UP_BREACH, f))
                self._set_attention(f"follow-up {f.n} unanswered past its deadline")
                self._note("follow-up late", str(f.n))
        self._changed()
