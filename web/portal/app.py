"""The portal's routes: sign-in from the emailed link, then the member's own case page.

Order of the checks: the rate limit (429), the sign-in link or the session cookie (404 for
an unknown link, 410 for a spent, expired or locked one, 401 without a session), the case
is the session's own (404 otherwise, exactly as for a case that does not exist), the CSRF
token on every POST (403), then the inputs (422). Errors are plain pages that name no
member, no diagnosis and no address.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from pydantic import ValidationError

from models.case import CaseStatus
from models.consent import CONSENT_TEXT, CONSENT_VERSION
from runtime.db import audit
from starter import ops
from web.errors import validation_message
from web.portal import intake, member, specialist, staff
from web.portal.base import PORTAL, PageError, Portal
from web.portal.links import SESSION_TTL, DobOutcome, LinkState, Member
from web.portal.pages import STATIC, case_context, render

COOKIE = "smo_portal"
_log = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

GONE = {
    LinkState.USED: "This sign-in link has been used already. Ask us for a new one.",
    LinkState.EXPIRED: "This sign-in link has expired. Ask us for a new one.",
    LinkState.LOCKED: "This sign-in link is locked after too many wrong dates of birth."
    " Ask us for a new one.",
}


@web.middleware
async def pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal is a plain page; a fault says only that it happened (never its text)."""
    try:
        return await handler(request)
    except (PageError, member.Refused) as exc:
        return render("error.html", exc.status, message=exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return render("error.html", exc.status, message=exc.reason)
    except Exception as exc:
        _log.error("portal %s failed: %s", request.method, type(exc).__name__)
        return render("error.html", 500, message="Something went wrong on our side. Please try again later.")


def _portal(request: web.Request) -> Portal:
    return request.app[PORTAL]


def _limit(request: web.Request) -> None:
    if not _portal(request).sign_in_limit.allow(request.remote or "?"):
        raise PageError(429, "Too many attempts from your connection. Please wait a few minutes.")


def _audit(
    portal: Portal, actor: str, action: str, outcome: str, case_id: str | None, detail: str = ""
) -> Any:
    return asyncio.to_thread(
        audit, portal.api.engine, actor=actor, action=action, outcome=outcome, case_id=case_id, detail=detail
    )


# ---- sign-in --------------------------------------------------------------------------


async def _open_link(request: web.Request) -> tuple[str, int]:
    _limit(request)
    token = request.match_info["token"]
    check = await asyncio.to_thread(_portal(request).links.check, token)
    if check.state is LinkState.UNKNOWN:
        raise PageError(404, "This sign-in link is not valid. Use the link from your latest email.")
    if check.state is not LinkState.OPEN:
        raise PageError(410, GONE[check.state])
    return token, check.attempts_left


async def sign_in_form(request: web.Request) -> web.StreamResponse:
    # Opening the link spends nothing: mail scanners fetch links, only the form's POST counts.
    token, left = await _open_link(request)
    csrf = _portal(request).links.csrf_token("signin:" + token)
    return render("signin.html", csrf=csrf, attempts_left=left, wrong=False)


async def sign_in(request: web.Request) -> web.StreamResponse:
    portal = _portal(request)
    token, left = await _open_link(request)
    form = await request.post()
    if not portal.links.csrf_ok("signin:" + token, str(form.get("csrf", ""))):
        raise PageError(403, "This form has expired. Open your sign-in link again.")
    csrf = portal.links.csrf_token("signin:" + token)
    try:
        dob = member.dob_from(form)
    except ValidationError:
        return render("signin.html", 422, csrf=csrf, attempts_left=left, wrong=False, invalid=True)
    outcome, check = await asyncio.to_thread(portal.links.redeem, token, dob)
    actor = f"member:{check.case_id}"
    if outcome is DobOutcome.WRONG:
        await _audit(
            portal, actor, "portal.sign_in", "wrong-dob", check.case_id, f"{check.attempts_left} left"
        )
        return render("signin.html", 401, csrf=csrf, attempts_left=check.attempts_left, wrong=True)
    if outcome is DobOutcome.LOCKED:
        await _audit(portal, actor, "portal.sign_in", "locked", check.case_id)
        raise PageError(410, GONE[LinkState.LOCKED])
    assert check.case_id is not None
    sid, _ = await asyncio.to_thread(
        portal.links.start_session, check.case_id, actor, request.cookies.get(COOKIE)
    )
    await _audit(portal, actor, "portal.sign_in", "signed-in", check.case_id)
    response = web.HTTPSeeOther(f"/portal/cases/{check.case_id}")
    response.set_cookie(
        COOKIE,
        sid,
        max_age=int(SESSION_TTL.total_seconds()),
        path="/portal",
        httponly=True,
        secure=portal.secure_cookies,
        samesite="Lax",
    )
    raise response


async def sign_out(request: web.Request) -> web.StreamResponse:
    portal = _portal(request)
    sid = request.cookies.get(COOKIE, "")
    who = await asyncio.to_thread(portal.links.session, sid)
    form = await request.post()
    if who is None or not portal.links.csrf_ok(sid, str(form.get("csrf", ""))):
        raise PageError(403, "This form has expired. Reload the page and try again.")
    await asyncio.to_thread(portal.links.end_session, sid)
    await _audit(portal, who.actor, "portal.sign_out", "signed-out", who.case_id)
    response = web.HTTPSeeOther("/portal/signed-out")
    response.del_cookie(COOKIE, path="/portal")
    raise response


async def signed_out(_request: web.Request) -> web.StreamResponse:
    return render("error.html", 200, message="You are signed out.", title="Signed out")


# ---- the member's case ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Visit:
    portal: Portal
    who: Member
    sid: str
    case_id: str

    @property
    def csrf(self) -> str:
        return self.portal.links.csrf_token(self.sid)


async def _visit(request: web.Request) -> Visit:
    portal = _portal(request)
    sid = request.cookies.get(COOKIE, "")
    who = await asyncio.to_thread(portal.links.session, sid) if sid else None
    if who is None:
        raise PageError(401, "Please sign in with the link from your email.")
    case_id = request.match_info["case_id"]
    if case_id != who.case_id:
        # Someone else's case answers exactly as a case that does not exist.
        raise PageError(404, "There is no such case.")
    return Visit(portal, who, sid, case_id)


def _check_csrf(visit: Visit, presented: str) -> None:
    if not visit.portal.links.csrf_ok(visit.sid, presented):
        raise PageError(403, "This form has expired. Reload the page and try again.")


async def _status(visit: Visit) -> CaseStatus:
    try:
        return await ops.status(await visit.portal.api.client(), visit.case_id)
    except ops.NoCase:
        raise PageError(404, "There is no such case.") from None


async def case_page(request: web.Request) -> web.StreamResponse:
    visit = await _visit(request)
    status = await _status(visit)
    done = request.query.get("done", "")
    return render(
        "case.html",
        csrf=visit.csrf,
        done=member.DONE.get(done, ""),
        record_types=member.MEMBER_RECORD_TYPES,
        consent_text=CONSENT_TEXT,
        consent_version=CONSENT_VERSION,
        **case_context(status),
    )


def _back(visit: Visit, done: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/portal/cases/{visit.case_id}?done={done}")


async def upload_records(request: web.Request) -> web.StreamResponse:
    visit = await _visit(request)
    await member.upload_records(request, visit.portal.api, visit.who, lambda c: _check_csrf(visit, c))
    raise _back(visit, "records")


async def _form(request: web.Request, parse: Callable[[Any], T]) -> tuple[Visit, T]:
    """A signed-in member's form POST: the session, its CSRF token, then the fields."""
    visit = await _visit(request)
    form = await request.post()
    _check_csrf(visit, str(form.get("csrf", "")))
    try:
        return visit, parse(form)
    except ValidationError as exc:
        raise PageError(422, "Please check the form: " + validation_message(exc)) from None


async def update_contact(request: web.Request) -> web.StreamResponse:
    visit, contact = await _form(request, member.contact_from)
    await member.update_contact(visit.portal.api, visit.who, await _status(visit), contact)
    raise _back(visit, "contact")


async def book_consult(request: web.Request) -> web.StreamResponse:
    visit, slot = await _form(request, member.slot_from)
    await member.book_consult(visit.portal.api, visit.who, slot)
    raise _back(visit, "consult")


async def give_consent(request: web.Request) -> web.StreamResponse:
    visit, version = await _form(request, member.consent_version_from)
    await member.give_consent(visit.portal.api, visit.who, version)
    raise _back(visit, "consent")


async def withdraw_consent(request: web.Request) -> web.StreamResponse:
    visit, _ = await _form(request, lambda _form: None)
    await member.withdraw_consent(visit.portal.api, visit.who)
    raise _back(visit, "withdrawn")


async def download_report(request: web.Request) -> web.StreamResponse:
    visit = await _visit(request)
    doc_id = request.match_info["doc_id"]
    status = await _status(visit)
    if doc_id not in status.report_doc_ids:
        raise PageError(404, "There is no such document.")
    await _audit(
        visit.portal, visit.who.actor, "portal.report_download", "served", visit.case_id, doc_id[:12]
    )
    return await member.stream_document(
        request, visit.portal.api.store, doc_id, f"{visit.case_id}-report-{doc_id[:8]}.pdf"
    )


def portal_app(portal: Portal) -> web.Application:
    """The `/portal` sub-application (mounted by `add_portal`)."""
    app = web.Application(middlewares=[pages])
    app[PORTAL] = portal
    app.router.add_get("/signin/{token}", sign_in_form)
    app.router.add_post("/signin/{token}", sign_in)
    app.router.add_post("/signout", sign_out)
    app.router.add_get("/signed-out", signed_out)
    app.router.add_get("/cases/{case_id}", case_page)
    app.router.add_post("/cases/{case_id}/records", upload_records)
    app.router.add_post("/cases/{case_id}/contact", update_contact)
    app.router.add_post("/cases/{case_id}/consult", book_consult)
    app.router.add_get("/cases/{case_id}/reports/{doc_id}", download_report)
    app.router.add_post("/cases/{case_id}/consent", give_consent)
    app.router.add_post("/cases/{case_id}/consent/withdraw", withdraw_consent)
    specialist.add_routes(app)
    intake.add_routes(app)
    staff.add_routes(app)
    app.router.add_static("/static", STATIC)
    return app


def add_portal(app: web.Application, portal: Portal) -> None:
    app.add_subapp("/portal", portal_app(portal))
