"""A follow-up question or its answer from a portal page: the text checked (422, in the
reader's words), stored encrypted, and sent to the case as the API sends it (`act`)."""

from __future__ import annotations

import asyncio

from pydantic import ValidationError

from models.follow_up import AnswerFollowUp, AskFollowUp, FollowUpText
from runtime.i18n import N_, gettext
from runtime.portal_links import Holder
from web.errors import WebError
from web.portal.base import Portal, act
from workflows.smo_case import SmoCaseWorkflow

EMPTY = N_("Write your question (up to 5,000 characters).")
REFUSED_ASK = N_(
    "This question cannot be asked now: your programme's follow-up questions are used"
    " or their time has passed."
)


def _sheet(text: str) -> bytes:
    try:
        return FollowUpText(text=text).model_dump_json().encode()
    except ValidationError:
        raise WebError(422, gettext(EMPTY)) from None


async def follow_up_ask(portal: Portal, who: Holder, text: str) -> None:
    store = portal.backends.store
    stored = await asyncio.to_thread(store.put_bytes, _sheet(text), who.case_id)
    arg = AskFollowUp(question_doc_id=stored.doc_id, by=who.actor)
    await act(
        portal,
        who,
        SmoCaseWorkflow.ask_follow_up,
        arg,
        "follow_up.ask",
        [stored],
        refused=gettext(REFUSED_ASK),
    )


async def follow_up_answer(portal: Portal, who: Holder, n: int, text: str) -> None:
    store = portal.backends.store
    stored = await asyncio.to_thread(store.put_bytes, _sheet(text), who.case_id)
    arg = AnswerFollowUp(n=n, answer_doc_id=stored.doc_id, by=who.actor)
    await act(portal, who, SmoCaseWorkflow.answer_follow_up, arg, "follow_up.answer", [stored])
