"""The member's treating doctor, from their case page: named, with the member's consent to share
the full report, and the consent withdrawn (the doctor's link dies with it, web/portal/doctor.py).

Who the doctor is goes into the encrypted store as a `ProviderSheet` (the notices address it as
they address a hospital); the case keeps its id. A mistake is a 422 in the member's words.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import ValidationError

from models.case import CaseStatus
from models.doctor import ShareWithDoctor, WithdrawDoctor
from models.records import ProviderSheet
from runtime.documents import small_read
from runtime.i18n import N_, gettext
from web.errors import WebError
from web.portal.base import Portal, act, form_text
from web.portal.member_visit import form_of
from workflows.smo_case import SmoCaseWorkflow

DOCTOR_DONE = {
    "doctor": N_("Thank you: we email your doctor a link to your report as soon as it is ready."),
    "doctor_withdrawn": N_("Your consent is withdrawn: your doctor's link no longer opens your report."),
}
CHECK_DOCTOR = N_("Please check your doctor's name, their hospital and their email address.")
NOT_AGREED = N_("Please tick the box to agree that we share your report with your doctor.")
REFUSED_SHARE = N_("Your report cannot be shared now. Please contact us.")
REFUSED_WITHDRAW = N_("There is no consent to withdraw. Please reload the page.")

routes = web.RouteTableDef()


def _form(form: MultiDictProxy[Any]) -> dict[str, Any]:
    return {
        "name": form_text(form, "doctor_name").strip(),
        "hospital": form_text(form, "doctor_hospital").strip(),
        "email": form_text(form, "doctor_email").strip(),
        "agree": form_text(form, "agree") == "yes",
    }


@routes.post("/cases/{case_id}/doctor")
async def share(request: web.Request) -> web.StreamResponse:
    visit, _, _, fields = await form_of(request, _form)
    if not fields["agree"]:
        raise WebError(422, gettext(NOT_AGREED))
    try:
        if not (fields["name"] and fields["hospital"] and fields["email"]):
            raise ValueError("a field is empty")
        sheet = ProviderSheet(name=f"{fields['name']}, {fields['hospital']}", email=fields["email"])
    except (ValueError, ValidationError):
        raise WebError(422, gettext(CHECK_DOCTOR)) from None
    store = visit.portal.backends.store
    stored = await asyncio.to_thread(store.put_bytes, sheet.model_dump_json().encode(), visit.case_id)
    arg = ShareWithDoctor(sheet_doc_id=stored.doc_id, by=visit.who.actor)
    update = SmoCaseWorkflow.share_with_doctor
    await act(visit.portal, visit.who, update, arg, "doctor.share", [stored], refused=gettext(REFUSED_SHARE))
    raise visit.back("doctor")


@routes.post("/cases/{case_id}/doctor/withdraw")
async def withdraw(request: web.Request) -> web.StreamResponse:
    visit, _, _, _ = await form_of(request, lambda form: None)
    arg = WithdrawDoctor(by=visit.who.actor)
    update = SmoCaseWorkflow.withdraw_doctor
    await act(visit.portal, visit.who, update, arg, "doctor.withdraw", refused=gettext(REFUSED_WITHDRAW))
    raise visit.back("doctor_withdrawn")


async def doctor_named(portal: Portal, status: CaseStatus) -> str | None:
    """Whom the member shares the report with, while they do (their sheet's name), for the page."""
    share = status.doctor
    if share is None or not share.live:
        return None
    store = portal.backends.store
    raw = await small_read(store, store.read_small, status.case_id, share.sheet_doc_id)
    return ProviderSheet.model_validate_json(raw).name
