"""The member's summary and answers translated into their language (models/opinion.py).

An opinion whose edge found the member reading Khmer (`Opinion.translate_to`) opens, when its
report is delivered, a task for the translator: due `translation_working_days` Cambodian
working days later; at the deadline the translator is reminded and given one more working day,
then the desk is told, as for a record's translation (workflows/case/requests.py). The member's report email
says the English is ready and by when their language follows; the translator's version is an
encrypted sheet the case only checks is there, and the member is told when it is.

The deadlines are the after-report clock's (`FollowUpStage._follow_up_clock`); a case whose
opinion needs no translation has none, and replays as it ran.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.case import UpdateAck
    from models.notices import NoticeKind
    from models.opinion import Opinion, OpinionTranslation, TranslateOpinion

from workflows.case.effects import EffectsMixin
from workflows.case.options import expect

LATE = "the opinion's translation is past its deadline"


class OpinionTranslationStage(EffectsMixin):
    async def _open_opinion_translation(self) -> OpinionTranslation | None:
        """The translator's task for the delivered opinion, when it asks for one (else None)."""
        opinion = self.s.opinion
        if opinion is None or opinion.translate_to is None or opinion.sheet_doc_id is None:
            return None
        now = workflow.now()
        due = await self._working_days_on(self.terms.translation_working_days, now)
        task = OpinionTranslation(language=opinion.translate_to, opened_at=now, due_at=due)
        self.s.opinion = opinion.model_copy(update={"translation": task})
        self._ask_translator(task, reminder=False)
        self._note("opinion translation asked", f"into {task.language}")
        return task

    def _ask_translator(self, task: OpinionTranslation, *, reminder: bool) -> None:
        params = {"language": task.language, "sheet": self._sheet_ref()}
        if not reminder:
            params["deadline"] = task.due_at.isoformat()
        suffix = f"{params['sheet']}:{'reminder' if reminder else 'asked'}"
        notice = self._notice(NoticeKind.OPINION_TRANSLATION, suffix, params=params)
        self._queue_notice("opinion-translation", notice)

    def _sheet_ref(self) -> str:
        """The translator's link names the English sheet by the first 16 hex digits of its id."""
        assert self.s.opinion is not None and self.s.opinion.sheet_doc_id is not None
        return self.s.opinion.sheet_doc_id[:16]

    def _translation_instant(self) -> datetime | None:
        task = self.s.opinion.translation if self.s.opinion is not None else None
        return task.next_instant() if task is not None else None

    async def _translation_due(self, now: datetime) -> None:
        """At the deadline, remind the translator and give one more working day; then tell the desk."""
        task = self.s.opinion.translation if self.s.opinion is not None else None
        at = task.next_instant() if task is not None else None
        if task is None or at is None or now < at:
            return
        if not task.reminded:
            late_at = await self._working_days_on(1, now)  # before the task changes: one state at a time
            task.reminded, task.late_at = True, late_at
            self._ask_translator(task, reminder=True)
        else:
            task.escalated = True
            params = {"language": task.language, "deadline": task.due_at.isoformat()}
            suffix = f"{self._sheet_ref()}:late"
            notice = self._notice(NoticeKind.OPINION_TRANSLATION_LATE, suffix, params=params)
            self._queue_notice("opinion-translation", notice)
            self._set_attention(LATE)
            self._note("opinion translation late")
        self._changed()

    @workflow.update
    async def translate_opinion(self, req: TranslateOpinion) -> UpdateAck:
        async with self._lock:
            self._still_valid(lambda: self._validate_translation(req))
            await self._check_stored(req.sheet_doc_id)
            opinion: Opinion | None = self.s.opinion
            assert opinion is not None and opinion.translation is not None
            task = opinion.translation
            task.sheet_doc_id, task.translated_by, task.at = req.sheet_doc_id, req.by, workflow.now()
            late = task.at > task.due_at
            if self.s.attention == LATE:
                self._set_attention(None)
            params: dict[str, str] = {"language": task.language}
            notice = self._notice(NoticeKind.OPINION_TRANSLATED, f"{self._sheet_ref()}:done", params=params)
            self._queue_notice("opinion-translation", notice)
            self._note("opinion translated", f"by {req.by}" + (", late" if late else ""))
        return self._ack("the translation is with the case" + (" (late)" if late else ""))

    @translate_opinion.validator
    def _validate_translation(self, req: TranslateOpinion) -> None:
        expect(req, TranslateOpinion)
        opinion = self.s.opinion
        task = opinion.translation if opinion is not None else None
        if task is None:
            raise ValueError("the case's opinion asks for no translation")
        if not task.open:
            raise ValueError("the opinion is translated already")
