"""Pages for people outside the case: a provider sending records, a translator translating one.

Each is reached by a signed link that names one task: a provider's request (its number) or a
translation (the original's id). The signature says only that we issued the link; on every
use the page checks the task against the live case (the read model): a request that has
ended (received, refused, expired, revoked) or whose release is no longer in force, and a
translation already done, answer 410. No account is needed, and the pages are English.

Every upload is the same `add_record` update the API sends, audited as `provider:<n>` or
`translator`, with every check member uploads get (web.uploads): caps, names, streaming.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

import service
from models.case import AddRecords, CaseStatus, DocumentRef
from models.input_text import LanguageCode
from models.records import ProviderRequest, Translation
from models.records_check import short
from models.records_updates import RefuseRequest
from runtime.i18n import ICT
from runtime.portal_links import Holder
from service.errors import NoCase
from web.errors import WebError
from web.portal.base import Portal, act, check_csrf, download, portal_of
from web.portal.english import english
from web.portal.pages import render
from web.uploads import PAGES, MultipartForm
from workflows.smo_case import SmoCaseWorkflow

EXPIRY = re.compile(r"[0-9]{1,11}")
REQUEST_NO = re.compile(r"[0-9]{1,3}")
DOC_ID = re.compile(r"[0-9a-f]{64}")
INVALID = "This link is not valid."
REQUEST_ENDED = "This request has ended: the records are no longer asked for on this page. Thank you."
TASK_ENDED = "This translation is done, or no longer needed. Thank you."
_LANGUAGE = TypeAdapter(LanguageCode)


@dataclass(frozen=True, slots=True)
class Task:
    """One verified visit to a task's page."""

    portal: Portal
    who: Holder
    base: str
    sig: str
    status: CaseStatus

    @property
    def csrf(self) -> str:
        return self.portal.links.csrf_token("task:" + self.sig)

    def check_csrf(self, presented: str) -> None:
        check_csrf(self.portal, "task:" + self.sig, presented)


async def task_of(request: web.Request, kind: str, ref_re: re.Pattern[str]) -> Task:
    portal, info = portal_of(request), request.match_info
    case_id, ref, exp_text, sig = info["case_id"], info["ref"], info["exp"], info["sig"]
    if not (ref_re.fullmatch(ref) and EXPIRY.fullmatch(exp_text)):
        raise WebError(404, INVALID)
    if not portal.links.task_ok(kind, case_id, ref, int(exp_text), sig):
        raise WebError(404, INVALID)
    if int(exp_text) <= datetime.now(UTC).timestamp():
        raise WebError(410, "This link has expired. Ask the desk for a new one.")
    try:
        status = await portal.backends.case_status(case_id)
    except NoCase:
        raise WebError(410, REQUEST_ENDED) from None
    outside = {"translations": "translator", "opinion-translations": "translator", "doctors": "doctor"}
    actor = ({"providers": f"provider:{ref}"} | outside).get(kind, f"member:{case_id}")
    base = f"/portal/{kind}/{case_id}/{ref}/{exp_text}/{sig}"
    return Task(portal, Holder(case_id=case_id, actor=actor), base, sig, status)


def _open_request(task: Task) -> ProviderRequest:
    """The link's request, while it is open under a release in force (else 410)."""
    n, g = int(task.who.actor.removeprefix("provider:")), task.status.gathering
    request = g.request(n) if g is not None else None
    release = g.release(request.release_no) if g is not None and request is not None else None
    today = datetime.now(ICT).date()
    if task.status.stage.terminal or request is None or not request.state.open:
        raise WebError(410, REQUEST_ENDED)
    if release is None or not release.in_force(today):
        raise WebError(410, REQUEST_ENDED)
    return request


def _open_translation(task: Task, doc_id: str) -> Translation:
    g = task.status.gathering
    found = next((t for t in g.translations if t.doc_id == doc_id), None) if g is not None else None
    if task.status.stage.terminal or found is None or not found.open:
        raise WebError(410, TASK_ENDED)
    return found


def _language(text: str) -> str:
    try:
        return _LANGUAGE.validate_python(text)
    except ValidationError:
        raise WebError(422, "Give the records' language as its two-letter code (en, km, fr).") from None


def _dated(text: str) -> date | None:
    if not text:
        return None
    try:
        dated = date.fromisoformat(text)
    except ValueError:
        raise WebError(422, "Give the records' date as YYYY-MM-DD.") from None
    if dated > datetime.now(ICT).date():
        raise WebError(422, "A record cannot be dated in the future.")
    return dated


routes = web.RouteTableDef()
PROVIDER = "/providers/{case_id}/{ref}/{exp}/{sig}"
TRANSLATION = "/translations/{case_id}/{ref}/{exp}/{sig}"


@routes.get(PROVIDER)
@english
async def provider_page(request: web.Request) -> web.StreamResponse:
    task = await task_of(request, "providers", REQUEST_NO)
    done = request.query.get("done", "") == "sent"
    try:
        asked = _open_request(task)
    except WebError:
        if not done:
            raise
        # The upload just sent was the last asked for: the request has ended with it.
        return render("error.html", 200, title="Thank you", message="The records are with the case.")
    return render("provider.html", task=task, asked=asked, done=done)


@routes.post(PROVIDER + "/records")
@english
async def provider_upload(request: web.Request) -> web.StreamResponse:
    """csrf, record_type, language, dated, then the files: checked in that order, then stored."""
    task = await task_of(request, "providers", REQUEST_NO)
    asked = _open_request(task)
    form = await MultipartForm.of(request, PAGES)
    task.check_csrf(await form.field("csrf"))
    record_type = form.record_type(await form.field("record_type"), asked.types)
    facts = {"language": _language(await form.field("language")), "dated": _dated(await form.field("dated"))}
    stored = await form.store_files(
        task.portal.backends.store, case_id=task.who.case_id, most=20, least=1, too_few="Choose a file."
    )
    refs = [r.model_copy(update=facts) for r in service.refs(stored, record_type)]
    arg = AddRecords(documents=refs, by=task.who.actor, request_no=asked.request_no)
    await act(
        task.portal, task.who, SmoCaseWorkflow.add_record, arg, "records.provider_upload", claims=stored
    )
    raise web.HTTPSeeOther(f"{task.base}?done=sent")


@routes.post(PROVIDER + "/refuse")
@english
async def provider_refuse(request: web.Request) -> web.StreamResponse:
    task = await task_of(request, "providers", REQUEST_NO)
    asked = _open_request(task)
    form = await request.post()
    task.check_csrf(str(form.get("csrf", "")))
    try:
        arg = RefuseRequest(
            request_no=asked.request_no, reason=str(form.get("reason", "")), by=task.who.actor
        )
    except ValidationError:
        raise WebError(422, "Say in a few words why the records cannot be sent.") from None
    await act(task.portal, task.who, SmoCaseWorkflow.refuse_request, arg, "records.provider_refuse")
    return render(
        "error.html", 200, title="Thank you", message="The desk is told that the records cannot be sent."
    )


@routes.get(TRANSLATION)
@english
async def translation_page(request: web.Request) -> web.StreamResponse:
    task = await task_of(request, "translations", DOC_ID)
    job = _open_translation(task, request.match_info["ref"])
    return render("translation.html", task=task, job=job)


@routes.get(TRANSLATION + "/original")
@english
async def translation_original(request: web.Request) -> web.StreamResponse:
    task = await task_of(request, "translations", DOC_ID)
    job = _open_translation(task, request.match_info["ref"])
    name = f"{task.who.case_id}-{short(job.doc_id)}"
    return await download(
        request, task.portal, task.who, "records.translation_original", job.doc_id, name, stored_name=False
    )


@routes.post(TRANSLATION)
@english
async def translation_upload(request: web.Request) -> web.StreamResponse:
    task = await task_of(request, "translations", DOC_ID)
    job = _open_translation(task, request.match_info["ref"])
    form = await MultipartForm.of(request, PAGES)
    task.check_csrf(await form.field("csrf"))
    stored = await form.store_files(
        task.portal.backends.store,
        case_id=task.who.case_id,
        most=1,
        least=1,
        too_few="Choose the translation.",
    )
    doc = stored[0]
    ref = DocumentRef(
        doc_id=doc.doc_id,
        record_type=job.record_type,
        size=doc.size,
        language="en",
        translation_of=job.doc_id,
    )
    arg = AddRecords(documents=[ref], by=task.who.actor)
    await act(task.portal, task.who, SmoCaseWorkflow.add_record, arg, "records.translation", claims=stored)
    return render("error.html", 200, title="Thank you", message="The translation is with the case.")
