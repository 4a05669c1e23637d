"""The API's calls after the report: follow-up questions (ask one, answer one), the member's survey.

The text is PHI: it goes to the encrypted store as a sheet, and the case gets its id. A refused
question or answer removes the sheet it stored.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

import service
from models.api import ActionResult, Empty
from models.api_records import ascii_digits
from models.follow_up import AnswerFollowUp, AskFollowUp, FollowUpText, FollowUpWords
from models.survey import SendSurvey
from web.api.call import Call, update
from web.errors import WebError, validation_message
from web.spec import COORDINATORS, Route
from workflows.smo_case import SmoCaseWorkflow


class FollowUpNumber(BaseModel):
    """The follow-up question a call means, by its number (ASCII digits)."""

    number: Annotated[int, Field(ge=1, le=20), BeforeValidator(ascii_digits)]


class FollowUpBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: FollowUpWords


async def _stored_then(call: Call, text: str, make: Any, update_fn: Any, action: str) -> ActionResult:
    call.check_running()
    store = call.backends.store
    sheet = FollowUpText(text=text).model_dump_json().encode()
    stored = await asyncio.to_thread(store.put_bytes, sheet, call.case_id)
    return await service.claim(store, [stored], lambda: update(call, update_fn, make(stored.doc_id), action))


async def ask_follow_up(call: Call) -> ActionResult:
    body: FollowUpBody = call.body

    def arg(doc_id: str) -> AskFollowUp:
        return AskFollowUp(question_doc_id=doc_id, by=call.who.name)

    return await _stored_then(call, body.text, arg, SmoCaseWorkflow.ask_follow_up, "follow_up.ask")


async def answer_follow_up(call: Call) -> ActionResult:
    body: FollowUpBody = call.body
    try:
        n = FollowUpNumber.model_validate({"number": call.request.match_info["number"]}).number
    except ValidationError as exc:
        raise WebError(422, validation_message(exc, "path")) from None

    def arg(doc_id: str) -> AnswerFollowUp:
        return AnswerFollowUp(n=n, answer_doc_id=doc_id, by=call.who.name)

    return await _stored_then(call, body.text, arg, SmoCaseWorkflow.answer_follow_up, "follow_up.answer")


async def send_survey(call: Call) -> ActionResult:
    return await update(call, SmoCaseWorkflow.send_survey, SendSurvey(by=call.who.name), "survey.send")


C = "/api/v1/cases/{case_id}"
ROUTES = [
    Route(
        "POST",
        f"{C}/follow-ups",
        ask_follow_up,
        "Ask a follow-up question after the report, within the program's window and count",
        ActionResult,
        COORDINATORS,
        body=FollowUpBody,
    ),
    Route(
        "POST",
        f"{C}/follow-ups/{{number}}/answer",
        answer_follow_up,
        "Answer follow-up question N (for the specialist)",
        ActionResult,
        COORDINATORS,
        body=FollowUpBody,
        params=FollowUpNumber,
    ),
    Route(
        "POST",
        f"{C}/survey",
        send_survey,
        "Send the member's survey now (it goes out a day after the report otherwise)",
        ActionResult,
        COORDINATORS,
        body=Empty,
    ),
]
