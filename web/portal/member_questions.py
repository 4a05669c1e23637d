"""The member's questions for the specialist, rewritten on the case page until a specialist is
being chosen (workflows/case/records.py `QUESTIONS_OPEN`): a new intake sheet with them, which
the case counts anew (`UpdateDetails.questions`). A mistake is a 422 in the member's words, and
nothing is stored."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import ValidationError

from models.case import CaseStatus, Stage
from models.input_text import MAX_QUESTIONS
from runtime.i18n import N_, gettext
from web.errors import WebError
from web.portal.member_visit import change_details, form_of

QUESTIONS_DONE = {"questions": N_("Thank you: the specialist will answer your questions in the report.")}
CHECK_QUESTIONS = N_("Please write at most %(most)s questions, each of at most 1,000 characters.")
TOO_LATE = N_(
    "Your questions can no longer change: the specialist has them. Ask a follow-up after the report."
)
OPEN_STAGES = frozenset({Stage.INTAKE, Stage.ELIGIBILITY, Stage.GATHERING_RECORDS})

routes = web.RouteTableDef()


def can_rewrite(status: CaseStatus) -> bool:
    """Whether the page offers the member's questions to rewrite."""
    return status.stage in OPEN_STAGES


def _questions(form: MultiDictProxy[Any]) -> list[str]:
    asked = [str(q).strip() for q in form.getall("question", []) if isinstance(q, str)]
    if len(asked) > MAX_QUESTIONS:
        raise WebError(422, gettext(CHECK_QUESTIONS, most=MAX_QUESTIONS))
    return [q for q in asked if q]


@routes.post("/cases/{case_id}/questions")
async def rewrite(request: web.Request) -> web.StreamResponse:
    visit, status, _, asked = await form_of(request, _questions)
    if not can_rewrite(status):
        raise WebError(409, gettext(TOO_LATE))
    try:
        await change_details(visit, {"questions": asked}, "case.questions", TOO_LATE, questions=True)
    except ValidationError:
        raise WebError(422, gettext(CHECK_QUESTIONS, most=MAX_QUESTIONS)) from None
    raise visit.back("questions")
