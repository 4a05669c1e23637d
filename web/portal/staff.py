"""The staff view of a case, linked from each case's summary in the Temporal Web UI.

Coordinators and supervisors sign in once with their personal API token (the form posts
it; it never goes into a URL), which starts a portal session as `staff:<user>`. The page
shows the case as `status` does, only for a case in the user's programs (others are 404).
Staff pages are in English, and every time on them is the desk's (ICT), labelled as such.
"""

from __future__ import annotations

import asyncio
import re

from aiohttp import web
from sqlmodel import Session

import service
from models.case import CASE_ID_PATTERN
from models.users import ApiUser
from runtime.db import quick_read
from web.errors import WebError
from web.portal.base import FormNonce, audit, portal_of, rate_limit, set_session_cookie
from web.portal.english import english
from web.portal.pages import render
from web.tokens import TokenStore

COOKIE = "smo_staff"
NONCE = FormNonce(cookie="smo_staff_form", path="/portal/staff", binding="staff:")
CASE_ID = re.compile(CASE_ID_PATTERN)

# The pages of this module, each declared on its handler.
routes = web.RouteTableDef()


@routes.get("/staff/signin")
@english
async def sign_in_form(request: web.Request) -> web.StreamResponse:
    return NONCE.render(request, "staff_signin.html", case=request.query.get("case", ""))


@routes.post("/staff/signin")
@english
async def sign_in(request: web.Request) -> web.StreamResponse:
    rate_limit(request)
    portal = portal_of(request)
    form = await request.post()
    NONCE.check(request, str(form.get("csrf", "")))
    principal = await asyncio.to_thread(
        TokenStore(portal.backends.engine).resolve, str(form.get("token", "")).strip()
    )
    if principal is None:
        raise WebError(401, "That token is not valid. Ask a supervisor for one (smo user add).")
    sid, _ = await asyncio.to_thread(
        portal.links.start_session, "*", f"staff:{principal.name}", request.cookies.get(COOKIE)
    )
    await audit(portal, principal.name, "portal.staff_sign_in", "signed-in")
    case = str(form.get("case", ""))
    target = f"/portal/staff/cases/{case}" if case and CASE_ID.fullmatch(case) else "/portal/staff"
    response = web.HTTPSeeOther(target)
    set_session_cookie(response, portal, COOKIE, sid, "/portal/staff")
    raise response


@routes.get("/staff/cases/{case_id}")
@english
async def case_page(request: web.Request) -> web.StreamResponse:
    portal = portal_of(request)
    case_id = request.match_info["case_id"]
    who = await quick_read(portal.links.engine, portal.links.session, request.cookies.get(COOKIE, ""))
    if who is None or who.case_id != "*" or not who.actor.startswith("staff:"):
        raise web.HTTPSeeOther(
            "/portal/staff/signin" + (f"?case={case_id}" if CASE_ID.fullmatch(case_id) else "")
        )
    name = who.actor.removeprefix("staff:")

    def user() -> ApiUser | None:
        with Session(portal.backends.engine) as session:
            return session.get(ApiUser, name)

    row = await asyncio.to_thread(user)
    if row is None or row.revoked_at is not None:
        raise WebError(401, "Your token was revoked. Ask a supervisor for a new one.")
    try:
        status = await portal.backends.case_status(case_id)
    except service.NoCase:
        raise WebError(404, "There is no such case.") from None
    if row.program_list and status.program not in row.program_list:
        raise WebError(404, "There is no such case.")
    return render("staff_case.html", status=status)


@routes.get("/staff")
@english
async def home(_request: web.Request) -> web.StreamResponse:
    return render("error.html", 200, title="Staff", message="Open a case from the Temporal Web UI.")
