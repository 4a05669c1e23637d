"""Getting back in without help: "Email me a new sign-in link".

A member whose link was used, has expired or is locked, or whose session has ended, types the
case number and their date of birth. If both match a case that is still open, the case emails
a fresh sign-in link to the address on file: the `send_portal_link` update, as the desk's
`smo portal link` sends it. The page answers the same whatever was typed, and the check and
the sending run after it has answered (`Portal.later`), so neither the answer nor how long it
took tells whether the case exists or the date matches.

Limits: the flood guard per client address, and per case number in the counters every web
process shares (`ratelimit.NEW_LINK`), counted whether or not the case exists. The form's
CSRF token is bound to a random cookie (`FormNonce`: there is no session). Each outcome is on
the audit trail as `portal.new_link`; a case number that names no case is not written down
(it is whatever was typed).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

import service
from models.case import CaseStatus
from models.portal import NewLinkForm, SendPortalLink
from runtime.i18n import N_
from runtime.portal_links import LINK_TTL
from web.portal import ratelimit
from web.portal.base import FormNonce, Portal, audit, form_text, limit, parse_form, portal_of, rate_limit
from web.portal.dates import date_text
from web.portal.pages import render
from workflows.smo_case import SmoCaseWorkflow

PATH = "/portal/new-link"
OFFER = N_("Email me a new sign-in link")
NONCE = FormNonce(cookie="smo_new_link", path=PATH, binding="new-link:")
ACTION = "portal.new_link"
PLAIN = {
    "case_id": N_("Please check the case number. It is in our emails to you, for example SMO-260414-1A2B3C."),
    "date_of_birth": N_("Please enter your date of birth: the day, the month and the year."),
}

_log = logging.getLogger(__name__)


def _asked(form: MultiDictProxy[Any]) -> NewLinkForm:
    return NewLinkForm.model_validate(
        {"case_id": form_text(form, "case_id").strip(), "date_of_birth": date_text(form, "date_of_birth")}
    )


def _context(portal: Portal) -> dict[str, Any]:
    return {"desk": portal.desk, "link_hours": int(LINK_TTL.total_seconds() // 3600)}


async def _find(portal: Portal, typed: str) -> tuple[str, CaseStatus] | None:
    """The case a typed number names (as typed, else in capitals as the desk writes them)."""
    client = await portal.backends.client()
    for case_id in dict.fromkeys([typed, typed.upper()]):
        try:
            return case_id, await service.status(client, case_id)
        except service.NoCase:
            continue
    return None


async def send_if_theirs(portal: Portal, typed: str, dob: date) -> None:
    """The check and the sending, after the page has answered; each outcome audited."""
    try:
        found = await _find(portal, typed)
        if found is None:
            await audit(portal, "anonymous", ACTION, "unknown-case")
            return
        case_id, status = found
        intake = await asyncio.to_thread(portal.backends.store.load_intake, status.intake_doc_id)
    except Exception as exc:
        _log.warning("a new sign-in link could not be checked: %s", type(exc).__name__)
        await audit(portal, "anonymous", ACTION, "failed", detail=type(exc).__name__)
        return
    if intake.date_of_birth != dob:
        await audit(portal, "anonymous", ACTION, "wrong-dob", case_id)
        return
    actor = f"member:{case_id}"[:64]
    if status.stage.terminal:
        await audit(portal, actor, ACTION, "case-ended", case_id)
        return
    try:
        # Audited by the call itself: accepted (the case emails the link), or refused and why.
        await service.send_update(
            await portal.backends.client(),
            portal.backends.engine,
            case_id=case_id,
            actor=actor,
            action=ACTION,
            update=SmoCaseWorkflow.send_portal_link,
            arg=SendPortalLink(by=actor),
        )
    except Exception as exc:
        _log.warning("a new sign-in link was not sent: %s", type(exc).__name__)


# The pages of this module, each declared on its handler.
routes = web.RouteTableDef()


@routes.get("/new-link")
async def ask(request: web.Request) -> web.StreamResponse:
    rate_limit(request)
    return NONCE.render(request, "new_link.html", **_context(portal_of(request)))


@routes.post("/new-link")
async def send(request: web.Request) -> web.StreamResponse:
    rate_limit(request)
    portal = portal_of(request)
    form = await request.post()
    NONCE.check(request, form_text(form, "csrf"))
    asked = parse_form(_asked, form, PLAIN)
    # Counted per case number whether or not it names a case: the limit tells nothing either.
    await limit(request, ratelimit.NEW_LINK, asked.case_id.upper())
    portal.later(send_if_theirs(portal, asked.case_id, asked.date_of_birth))
    # POST, redirect, GET: a reload of the answer sends nothing again.
    raise web.HTTPSeeOther(PATH + "/sent")


@routes.get("/new-link/sent")
async def sent(request: web.Request) -> web.StreamResponse:
    return render("new_link_sent.html", **_context(portal_of(request)))
