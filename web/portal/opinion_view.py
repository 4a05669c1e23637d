"""The opinion's words and the follow-up questions as a page shows them, read from their
encrypted sheets (the case holds only their ids): the member's page and the specialist's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models.case import CaseStatus
from models.follow_up import FollowUpText
from models.opinion import OpinionSheet
from runtime.documents import small_read
from web.portal.base import Portal


@dataclass(frozen=True, slots=True)
class FollowUpView:
    n: int
    question: str
    answer: str | None
    late: bool


@dataclass(frozen=True, slots=True)
class OpinionView:
    summary: str | None
    answers: list[str]
    follow_ups: list[FollowUpView]
    # The translator's version in the member's language, once it is there; until then, when it
    # is due (the English is shown either way).
    translated: OpinionSheet | None = None
    translation_due: datetime | None = None


async def opinion_view(portal: Portal, status: CaseStatus) -> OpinionView:
    store, case_id = portal.backends.store, status.case_id

    def text(doc_id: str) -> str:
        return FollowUpText.model_validate_json(store.read_small(case_id, doc_id)).text

    def read() -> OpinionView:
        sheet = translated = None
        opinion = status.opinion
        if opinion is not None and opinion.sheet_doc_id is not None:
            sheet = OpinionSheet.model_validate_json(store.read_small(case_id, opinion.sheet_doc_id))
        task = opinion.translation if opinion is not None else None
        if task is not None and task.sheet_doc_id is not None:
            translated = OpinionSheet.model_validate_json(store.read_small(case_id, task.sheet_doc_id))
        follow_ups = [
            FollowUpView(
                n=f.n,
                question=text(f.question_doc_id),
                answer=text(f.answer_doc_id) if f.answer_doc_id else None,
                late=f.breached,
            )
            for f in status.follow_ups
        ]
        return OpinionView(
            summary=(sheet.summary or None) if sheet else None,
            answers=sheet.answers if sheet else [],
            follow_ups=follow_ups,
            translated=translated,
            translation_due=task.due_at if task is not None and task.open else None,
        )

    if (status.opinion is None or status.opinion.sheet_doc_id is None) and not status.follow_ups:
        return OpinionView(summary=None, answers=[], follow_ups=[])  # nothing to read
    return await small_read(store, read)
