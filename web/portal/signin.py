"""A member's sign-in from the emailed link, and sign-out.

Opening the link spends nothing (mail scanners fetch links); the form's POST compares the
date of birth, spends the link and starts a session with a new id (`COOKIE`). Wrong dates
count towards the link's lock; every outcome is audited under `member:<case id>`.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import ValidationError

from models.portal import DobForm
from runtime import i18n
from runtime.db import quick_read
from runtime.i18n import N_, gettext
from runtime.portal_links import SESSION_TTL, DobOutcome, LinkCheck, LinkState
from web.errors import WebError
from web.portal import new_link, ratelimit
from web.portal.base import (
    EXPIRED_FORM,
    audit,
    check_csrf,
    form_text,
    limit,
    open_link,
    portal_of,
    set_session_cookie,
)
from web.portal.dates import date_text
from web.portal.language import chosen
from web.portal.pages import Back, render

COOKIE = "smo_portal"

GONE = {
    LinkState.USED: N_("This sign-in link has been used already. You can ask for a new one by email."),
    LinkState.EXPIRED: N_("This sign-in link has expired. You can ask for a new one by email."),
    LinkState.LOCKED: N_(
        "This sign-in link is locked after too many wrong dates of birth. You can ask for a new one by email."
    ),
}
UNKNOWN = N_("This sign-in link is not valid. Use the link from your latest email.")
EXPIRED = N_("This form has expired. Open your sign-in link again.")
SIGNED_OUT = N_("You are signed out.")
SIGNED_OUT_TITLE = N_("Signed out")


def _dob_from(form: MultiDictProxy[Any]) -> date:
    return DobForm.model_validate({"date_of_birth": date_text(form, "date_of_birth")}).date_of_birth


def _page(request: web.Request, code: int = 200, /, **context: Any) -> web.Response:
    """The sign-in form, with how long a session lasts and the desk's contact."""
    hours = int(SESSION_TTL.total_seconds() // 3600)
    return render("signin.html", code, desk=portal_of(request).desk, session_hours=hours, **context)


async def _open_link(request: web.Request) -> tuple[str, LinkCheck]:
    token, check = await open_link(request, portal_of(request).links.check, "signin", UNKNOWN)
    if check.state is not LinkState.OPEN:
        raise WebError(410, GONE[check.state])
    if check.language is not None and chosen(request) is None:
        # The language of the email that carried the link, unless the reader picked one here.
        i18n.use(check.language)
    return token, check


# The pages of this module, each declared on its handler.
routes = web.RouteTableDef()


@routes.get("/signin/{token}")
async def sign_in_form(request: web.Request) -> web.StreamResponse:
    # Opening the link spends nothing: mail scanners fetch links, only the form's POST counts.
    token, check = await _open_link(request)
    csrf = portal_of(request).links.csrf_token("signin:" + token)
    return _page(request, csrf=csrf, attempts_left=check.attempts_left)


@routes.post("/signin/{token}")
async def sign_in(request: web.Request) -> web.StreamResponse:
    portal = portal_of(request)
    token, opened = await _open_link(request)
    left = opened.attempts_left
    form = await request.post()
    check_csrf(portal, "signin:" + token, form_text(form, "csrf"), EXPIRED)
    csrf = portal.links.csrf_token("signin:" + token)
    try:
        dob = _dob_from(form)
    except ValidationError:
        return _page(request, 422, csrf=csrf, attempts_left=left, invalid=True)
    # Dates of birth tried on one case, whichever of its links they come through.
    await limit(request, ratelimit.CASE, f"signin:{opened.case_id}")
    outcome, check = await asyncio.to_thread(portal.links.redeem, token, dob)
    actor = f"member:{check.case_id}"
    if outcome is DobOutcome.WRONG:
        left_text = f"{check.attempts_left} left"
        await audit(portal, actor, "portal.sign_in", "wrong-dob", check.case_id, left_text)
        return _page(request, 401, csrf=csrf, attempts_left=check.attempts_left, wrong=True)
    if outcome is DobOutcome.LOCKED:
        await audit(portal, actor, "portal.sign_in", "locked", check.case_id)
        raise WebError(410, GONE[LinkState.LOCKED])
    assert check.case_id is not None
    sid, _ = await asyncio.to_thread(
        portal.links.start_session, check.case_id, actor, request.cookies.get(COOKIE)
    )
    await audit(portal, actor, "portal.sign_in", "signed-in", check.case_id)
    response = web.HTTPSeeOther(f"/portal/cases/{check.case_id}")
    set_session_cookie(response, portal, COOKIE, sid, "/portal")
    raise response


@routes.post("/signout")
async def sign_out(request: web.Request) -> web.StreamResponse:
    portal = portal_of(request)
    sid = request.cookies.get(COOKIE, "")
    who = await quick_read(portal.links.engine, portal.links.session, sid)
    form = await request.post()
    if who is None:
        raise WebError(403, EXPIRED_FORM)
    check_csrf(portal, sid, form_text(form, "csrf"))
    await asyncio.to_thread(portal.links.end_session, sid)
    await audit(portal, who.actor, "portal.sign_out", "signed-out", who.case_id)
    response = web.HTTPSeeOther("/portal/signed-out")
    response.del_cookie(COOKIE, path="/portal")
    raise response


@routes.get("/signed-out")
async def signed_out(request: web.Request) -> web.StreamResponse:
    back = Back(new_link.PATH, gettext(new_link.OFFER))
    title, message = gettext(SIGNED_OUT_TITLE), gettext(SIGNED_OUT)
    return render("error.html", 200, message=message, title=title, back=back, desk=portal_of(request).desk)
