"""The staff view of a case, linked from each case's summary in the Temporal Web UI.

Coordinators and supervisors sign in once with their personal API token (the form posts
it; it never goes into a URL), which starts a portal session as `staff:<user>`. The page
shows the case as `status` does, only for a case in the user's programs (others are 404).
"""

from __future__ import annotations

import asyncio
import re
import secrets

from aiohttp import web
from sqlmodel import Session

from models.case import CASE_ID_PATTERN
from models.users import ApiUser
from runtime.db import audit
from starter import ops
from web.portal.base import PORTAL, PageError
from web.portal.links import SESSION_TTL
from web.portal.pages import render
from web.tokens import TokenStore

COOKIE = "smo_staff"
FORM_COOKIE = "smo_staff_form"
CASE_ID = re.compile(CASE_ID_PATTERN)


async def sign_in_form(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL]
    nxt = request.query.get("case", "")
    nonce = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)
    response = render("staff_signin.html", csrf=portal.links.csrf_token("staff:" + nonce), case=nxt)
    response.set_cookie(
        FORM_COOKIE,
        nonce,
        path="/portal/staff",
        httponly=True,
        secure=portal.secure_cookies,
        samesite="Strict",
    )
    return response


async def sign_in(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL]
    if not portal.sign_in_limit.allow(request.remote or "?"):
        raise PageError(429, "Too many attempts from your connection. Please wait a few minutes.")
    form = await request.post()
    nonce = request.cookies.get(FORM_COOKIE, "")
    if not nonce or not portal.links.csrf_ok("staff:" + nonce, str(form.get("csrf", ""))):
        raise PageError(403, "This form has expired. Reload the page and try again.")
    principal = await asyncio.to_thread(
        TokenStore(portal.api.engine).resolve, str(form.get("token", "")).strip()
    )
    if principal is None:
        raise PageError(401, "That token is not valid. Ask a supervisor for one (smo user add).")
    sid, _ = await asyncio.to_thread(
        portal.links.start_session, "*", f"staff:{principal.name}", request.cookies.get(COOKIE)
    )
    await asyncio.to_thread(
        audit, portal.api.engine, actor=principal.name, action="portal.staff_sign_in", outcome="signed-in"
    )
    case = str(form.get("case", ""))
    target = f"/portal/staff/cases/{case}" if case and CASE_ID.match(case) else "/portal/staff"
    response = web.HTTPSeeOther(target)
    response.set_cookie(
        COOKIE,
        sid,
        max_age=int(SESSION_TTL.total_seconds()),
        path="/portal/staff",
        httponly=True,
        secure=portal.secure_cookies,
        samesite="Lax",
    )
    raise response


async def case_page(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL]
    case_id = request.match_info["case_id"]
    who = await asyncio.to_thread(portal.links.session, request.cookies.get(COOKIE, ""))
    if who is None or who.case_id != "*" or not who.actor.startswith("staff:"):
        raise web.HTTPSeeOther(
            "/portal/staff/signin" + (f"?case={case_id}" if CASE_ID.match(case_id) else "")
        )
    name = who.actor.removeprefix("staff:")

    def user() -> ApiUser | None:
        with Session(portal.api.engine) as session:
            return session.get(ApiUser, name)

    row = await asyncio.to_thread(user)
    if row is None or row.revoked_at is not None:
        raise PageError(401, "Your token was revoked. Ask a supervisor for a new one.")
    try:
        status = await ops.status(await portal.api.client(), case_id)
    except ops.NoCase:
        raise PageError(404, "There is no such case.") from None
    if row.program_list and status.program not in row.program_list:
        raise PageError(404, "There is no such case.")
    return render("staff_case.html", status=status)


async def home(_request: web.Request) -> web.StreamResponse:
    return render("error.html", 200, title="Staff", message="Open a case from the Temporal Web UI.")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/staff", home)
    app.router.add_get("/staff/signin", sign_in_form)
    app.router.add_post("/staff/signin", sign_in)
    app.router.add_get("/staff/cases/{case_id}", case_page)
