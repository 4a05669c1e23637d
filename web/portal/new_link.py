"""Getting back in without help: "Email me a new sign-in link".

A member whose link was used, has expired or is locked, or whose session has ended, types the
case number and their date of birth. If both match a case that is still open, the case emails
a fresh sign-in link to the address on file: the `send_portal_link` update, as the desk's
`smo portal link` sends it. The page answers the same whatever was typed, and the check and
the sending run after it has answered (`Portal.later`), so neither the answer nor how long it
took tells whether the case exists or the date matches.

Limits (web.portal.ratelimit), in the counters every web process shares: the askers, per
client address and per address and case number, with a 429 page. Never per case number
alone: that number is in every email's subject, and a limit on it would let anyone keep its
member out. Once the date of birth has matched, the emails per case are capped, and a request
past the cap is dropped without a word, as is one that finds the process's work after
answering full (`Portal.later`): the answer stays the same. Whoever asks is anonymous (they
knew a number and a date, nothing more), so the audit trail and the update name the asker
`ACTOR`, never the member. The form's CSRF token is bound to a random cookie (`FormNonce`:
there is no session). Each outcome is on the audit trail as `portal.new_link`; a case number
that names no case is not written down (it is whatever was typed).
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
from runtime.clients import client_of
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
ACTOR = "anonymous:new-link"  # on the audit trail and as the update's `by`
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
    for case_id in dict.fromkeys([typed, typed.upper()]):
        try:
            return case_id, await portal.backends.case_status(case_id)
        except service.NoCase:
            continue
    return None


async def _theirs(portal: Portal, typed: str, dob: date) -> str | None:
    """The case to email: a known number, the right date, a case still open; else audited, None."""
    try:
        found = await _find(portal, typed)
        if found is None:
            await audit(portal, ACTOR, ACTION, "unknown-case")
            return None
        case_id, status = found
        intake = await asyncio.to_thread(portal.backends.store.load_intake, case_id, status.intake_doc_id)
    except Exception as exc:
        _log.warning("a new sign-in link could not be checked: %s", type(exc).__name__)
        await audit(portal, ACTOR, ACTION, "failed", detail=type(exc).__name__)
        return None
    if intake.date_of_birth != dob:
        await audit(portal, ACTOR, ACTION, "wrong-dob", case_id)
        return None
    if status.stage.terminal:
        await audit(portal, ACTOR, ACTION, "case-ended", case_id)
        return None
    return case_id


async def send_if_theirs(portal: Portal, typed: str, dob: date) -> None:
    """The check and the sending, after the page has answered; each outcome audited."""
    case_id = await _theirs(portal, typed, dob)
    if case_id is None:
        return
    try:
        # Counted only for the right pair: a wrong guess spends none of the member's emails.
        over = await asyncio.to_thread(portal.counters.hit, ratelimit.NEW_LINK_MAIL, case_id)
    except Exception as exc:
        _log.warning("a new sign-in link could not be counted: %s", type(exc).__name__)
        await audit(portal, ACTOR, ACTION, "failed", case_id, type(exc).__name__)
        return
    if over is not None:
        await audit(portal, ACTOR, ACTION, "throttled", case_id)
        return
    try:
        # Audited by the call itself: accepted (the case emails the link), or refused and why.
        await service.send_update(
            await portal.backends.client(),
            portal.backends.engine,
            case_id=case_id,
            actor=ACTOR,
            action=ACTION,
            update=SmoCaseWorkflow.send_portal_link,
            arg=SendPortalLink(by=ACTOR),
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
    # Counted per asker whether or not the number names a case: the limits tell nothing either.
    address = client_of(request)
    await limit(request, ratelimit.NEW_LINK_FROM, address)
    await limit(request, ratelimit.NEW_LINK_CASE, f"{address}|{asked.case_id.upper()}")
    if not portal.later(send_if_theirs(portal, asked.case_id, asked.date_of_birth)):
        await audit(portal, ACTOR, ACTION, "dropped")
    # POST, redirect, GET: a reload of the answer sends nothing again.
    raise web.HTTPSeeOther(PATH + "/sent")


@routes.get("/new-link/sent")
async def sent(request: web.Request) -> web.StreamResponse:
    return render("new_link_sent.html", **_context(portal_of(request)))
