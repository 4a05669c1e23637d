"""The API's calls for the member's treating doctor, for the desk at intake or on the phone: name
the doctor with the member's consent (the desk attests it), and withdraw it.

Who the doctor is is PHI: an encrypted `ProviderSheet` the case gets the id of; a refused call
removes it. The doctor's page and its link are the portal's (web/portal/doctor.py).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

import service
from models.api import ActionResult, Empty
from models.doctor import ShareWithDoctor, WithdrawDoctor
from models.input_text import Email
from models.records import PROVIDER_PATTERN, ProviderSheet
from web.api.call import Call, update
from web.spec import COORDINATORS, Route
from workflows.smo_case import SmoCaseWorkflow

# Each part of the doctor's sheet's name ("name, hospital"), as a provider's name is written.
Words = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=58, pattern=PROVIDER_PATTERN)
]


class DoctorBody(BaseModel):
    """The treating doctor, and the desk's word that the member consented to share the report."""

    model_config = ConfigDict(extra="forbid")

    name: Words
    hospital: Words
    email: Email
    member_consented: Literal[True] = Field(description="the member agreed that the report is shared")


async def share_with_doctor(call: Call) -> ActionResult:
    body: DoctorBody = call.body
    call.check_running()
    store = call.backends.store
    sheet = ProviderSheet(name=f"{body.name}, {body.hospital}", email=body.email)
    stored = await asyncio.to_thread(store.put_bytes, sheet.model_dump_json().encode(), call.case_id)
    arg = ShareWithDoctor(sheet_doc_id=stored.doc_id, by=call.who.name)
    return await service.claim(
        store, [stored], lambda: update(call, SmoCaseWorkflow.share_with_doctor, arg, "doctor.share")
    )


async def withdraw_doctor(call: Call) -> ActionResult:
    arg = WithdrawDoctor(by=call.who.name)
    return await update(call, SmoCaseWorkflow.withdraw_doctor, arg, "doctor.withdraw")


C = "/api/v1/cases/{case_id}"
ROUTES = [
    Route(
        "POST",
        f"{C}/doctor",
        share_with_doctor,
        "Share the report with the member's treating doctor, with the member's consent",
        ActionResult,
        COORDINATORS,
        body=DoctorBody,
    ),
    Route(
        "POST",
        f"{C}/doctor/withdraw",
        withdraw_doctor,
        "Withdraw the member's consent: the doctor's link no longer opens the report",
        ActionResult,
        COORDINATORS,
        body=Empty,
    ),
]
