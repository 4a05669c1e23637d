"""The treating doctor's page: the member's report, and a button to ask the desk for a
doctor-to-doctor call with the specialist.

The link is the doctor's own, from their email (`task_url("doctors", …)`, checked as every task
link is, web.portal.tasks): its ref is the doctor's sheet, so a doctor the member replaced holds
a dead link. Every use checks the consent on the live case: once the member withdraws it, or the
case's documents are erased, the page and each download answer 410. The page is in English.
"""

from __future__ import annotations

import re

from aiohttp import web

from models.case import Stage
from models.doctor import AskDoctorCall, DoctorShare
from models.records import ProviderSheet
from runtime.documents import small_read
from web.errors import WebError
from web.portal.base import act, download
from web.portal.english import english
from web.portal.pages import render
from web.portal.tasks import Task, task_of
from workflows.smo_case import SmoCaseWorkflow

SHEET_REF = re.compile(r"[0-9a-f]{16}")
DOC_ID = re.compile(r"[0-9a-f]{64}")
GONE = "Your patient's consent to share this report has ended, or the report is no longer here."
PAGE = "/doctors/{case_id}/{ref}/{exp}/{sig}"
KIND = "doctors"

routes = web.RouteTableDef()


def _consented(task: Task, ref: str) -> DoctorShare:
    """The member's consent the link was sent under, while it stands (else 410)."""
    share = task.status.doctor
    if share is None or not share.live or share.sheet_doc_id[:16] != ref:
        raise WebError(410, GONE)
    return share


@routes.get(PAGE)
@english
async def doctor_page(request: web.Request) -> web.StreamResponse:
    task = await task_of(request, KIND, SHEET_REF)
    share = _consented(task, request.match_info["ref"])
    store = task.portal.backends.store
    raw = await small_read(store, store.read_small, task.who.case_id, share.sheet_doc_id)
    doctor = ProviderSheet.model_validate_json(raw)
    done = request.query.get("done", "") == "call"
    can_call = task.status.stage in (Stage.REPORT_DELIVERED, Stage.CONSULT)
    return render(
        "doctor.html",
        task=task,
        doctor=doctor,
        reports=task.status.report_doc_ids,
        can_call=can_call,
        done=done,
    )


@routes.get(PAGE + "/reports/{doc_id}")
@english
async def doctor_report(request: web.Request) -> web.StreamResponse:
    task = await task_of(request, KIND, SHEET_REF)
    _consented(task, request.match_info["ref"])
    doc_id = request.match_info["doc_id"]
    if not DOC_ID.fullmatch(doc_id) or doc_id not in task.status.report_doc_ids:
        raise WebError(404, "There is no such report.")
    name = f"{task.who.case_id}-report-{doc_id[:8]}.pdf"
    return await download(
        request, task.portal, task.who, "doctor.report_download", doc_id, name, stored_name=False
    )


@routes.post(PAGE + "/call")
@english
async def doctor_call(request: web.Request) -> web.StreamResponse:
    task = await task_of(request, KIND, SHEET_REF)
    _consented(task, request.match_info["ref"])
    form = await request.post()
    task.check_csrf(str(form.get("csrf", "")))
    arg = AskDoctorCall(by=task.who.actor)
    await act(task.portal, task.who, SmoCaseWorkflow.ask_doctor_call, arg, "doctor.call")
    raise web.HTTPSeeOther(f"{task.base}?done=call")
