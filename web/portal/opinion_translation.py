"""The translator's page for an opinion: the specialist's summary and answers for the member, in
English, and a form for their translation into the member's language.

The link is the translator's own, from their email (`portal.task_url("opinion-translations", …)`,
checked as every task link is, web.portal.tasks): its ref is the English sheet's id, so a link
from an earlier report's translation names a sheet that is no longer the case's. Once the
translation is in, or the case has ended, the link answers 410. The page is in English; what
the translator writes is stored as an encrypted sheet and sent to the case (`translate_opinion`).
"""

from __future__ import annotations

import asyncio
import re

from aiohttp import web
from pydantic import ValidationError

from models.opinion import OpinionSheet, OpinionTranslation, TranslateOpinion
from runtime.documents import small_read
from web.errors import WebError
from web.portal.base import act
from web.portal.english import english
from web.portal.pages import render
from web.portal.tasks import Task, task_of
from workflows.smo_case import SmoCaseWorkflow

SHEET_REF = re.compile(r"[0-9a-f]{16}")
DONE = "This translation is done, or no longer needed. Thank you."
PAGE = "/opinion-translations/{case_id}/{ref}/{exp}/{sig}"
KIND = "opinion-translations"

routes = web.RouteTableDef()


def _open_task(task: Task, ref: str) -> tuple[str, OpinionTranslation]:
    """The English sheet's id and the translation the link is for, while it is awaited (else 410)."""
    opinion = task.status.opinion
    job = opinion.translation if opinion is not None else None
    sheet = opinion.sheet_doc_id if opinion is not None else None
    if task.status.stage.terminal or job is None or not job.open or sheet is None or sheet[:16] != ref:
        raise WebError(410, DONE)
    return sheet, job


@routes.get(PAGE)
@english
async def translation_page(request: web.Request) -> web.StreamResponse:
    task = await task_of(request, KIND, SHEET_REF)
    sheet_id, job = _open_task(task, request.match_info["ref"])
    store = task.portal.backends.store
    raw = await small_read(store, store.read_small, task.who.case_id, sheet_id)
    return render("opinion_translation.html", task=task, job=job, sheet=OpinionSheet.model_validate_json(raw))


@routes.post(PAGE)
@english
async def translation_sent(request: web.Request) -> web.StreamResponse:
    """csrf, summary, then one `answer` per answer of the English sheet, in its order."""
    task = await task_of(request, KIND, SHEET_REF)
    sheet_id, _ = _open_task(task, request.match_info["ref"])
    form = await request.post()
    task.check_csrf(str(form.get("csrf", "")))
    store = task.portal.backends.store
    english_sheet = OpinionSheet.model_validate_json(
        await small_read(store, store.read_small, task.who.case_id, sheet_id)
    )
    answers = [str(a) for a in form.getall("answer", [])]
    if len(answers) != len(english_sheet.answers):
        raise WebError(422, f"Translate each of the {len(english_sheet.answers)} answer(s), in their order.")
    try:
        translated = OpinionSheet(summary=str(form.get("summary", "")), answers=answers)
    except ValidationError:
        raise WebError(
            422, "Each text is written text: the summary within 20,000 characters, an answer within 5,000."
        ) from None
    if english_sheet.summary and not translated.summary:
        raise WebError(422, "Translate the summary.")
    if any(not a for a in translated.answers):
        raise WebError(422, "Translate every answer.")
    stored = await asyncio.to_thread(store.put_bytes, translated.model_dump_json().encode(), task.who.case_id)
    arg = TranslateOpinion(sheet_doc_id=stored.doc_id, by=task.who.actor)
    await act(
        task.portal, task.who, SmoCaseWorkflow.translate_opinion, arg, "opinion.translate", claims=[stored]
    )
    return render("error.html", 200, title="Thank you", message="The translation is with the case.")
