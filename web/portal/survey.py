"""The member's survey page, from the link in its email (models/survey.py): three questions in
the member's language, no sign-in. The link names the case's survey; the page checks the live
case on every use: once answered or lapsed it answers 410. Audited as `member:<case id>`."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web
from pydantic import ValidationError

from models.follow_up import FollowUpText
from models.survey import AnswerSurvey
from runtime.i18n import N_, gettext
from web.errors import WebError
from web.portal.base import act
from web.portal.pages import render
from web.portal.tasks import Task, task_of
from workflows.smo_case import SmoCaseWorkflow

ONE = re.compile(r"1")
CLOSED = N_("This survey is answered or has closed. Thank you.")
CHOOSE = N_("Choose how satisfied you are (1 to 5) and whether you will follow the advice.")
THANKS = N_("Thank you: your answers help us and other members.")
ROUTE = "/survey/{case_id}/{ref}/{exp}/{sig}"

routes = web.RouteTableDef()


async def _open(request: web.Request) -> Task:
    task = await task_of(request, "survey", ONE)
    survey = task.status.survey
    if survey is None or not survey.open:
        raise WebError(410, gettext(CLOSED))
    return task


@routes.get(ROUTE)
async def survey_page(request: web.Request) -> web.StreamResponse:
    task = await _open(request)
    return render("survey.html", task=task, action=request.path_qs)


@routes.post(ROUTE)
async def answer_survey(request: web.Request) -> web.StreamResponse:
    task = await _open(request)
    form = await request.post()
    task.check_csrf(str(form.get("csrf", "")))
    satisfaction, follow = str(form.get("satisfaction", "")), str(form.get("will_follow", ""))
    if satisfaction not in {"1", "2", "3", "4", "5"} or follow not in {"yes", "no"}:
        raise WebError(422, gettext(CHOOSE))
    comment = str(form.get("comment", "")).strip()[:5000]
    store, claims = task.portal.backends.store, []
    if comment:
        try:
            sheet = FollowUpText(text=comment).model_dump_json().encode()
        except ValidationError:
            raise WebError(422, gettext(CHOOSE)) from None
        claims.append(await asyncio.to_thread(store.put_bytes, sheet, task.who.case_id))
    arg = AnswerSurvey(
        satisfaction=int(satisfaction),
        will_follow=follow == "yes",
        comment_doc_id=claims[0].doc_id if claims else None,
        by=task.who.actor,
    )
    await act(
        task.portal,
        task.who,
        SmoCaseWorkflow.answer_survey,
        arg,
        "survey.answer",
        claims,
        refused=gettext(CLOSED),
    )
    return render("error.html", 200, title=gettext(N_("Thank you")), message=gettext(THANKS))
