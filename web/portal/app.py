"""The portal's application: its pages under `/portal`, and refusals shown as plain pages.

Order of the checks: the rate limit (429), the sign-in link or the session cookie (404 for
an unknown link, 410 for a spent, expired or locked one, 401 without a session), the case
is the session's own (404 otherwise, exactly as for a case that does not exist), the CSRF
token on every POST (403), then the inputs (422). Errors are plain pages that name no
member, no diagnosis and no address: they say what happened in the reader's language, give
the desk's contact and link back (to the member's case while they are signed in, else to the
page that emails a new sign-in link).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

from runtime.blobs import StoreError
from runtime.case_keys import CaseErased
from runtime.i18n import N_, gettext
from runtime.portal_links import Holder
from web.errors import WebError
from web.links import ERASED
from web.portal import (
    doctor,
    intake,
    member,
    member_consult,
    member_doctor,
    member_questions,
    member_release,
    new_link,
    opinion_translation,
    signin,
    specialist,
    staff,
    survey,
    tasks,
)
from web.portal.base import PORTAL, Portal, portal_of
from web.portal.language import languages
from web.portal.malformed import malformed_requests
from web.portal.pages import STATIC, Back, render

_log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FAULT = N_("Something went wrong on our side. Please try again later.")
# The document store cannot be reached: an upload keeps nothing, a download cannot start.
STORE_DOWN = N_(
    "Documents cannot be stored or opened just now. If you were sending documents, they were not"
    " kept. Please try again later."
)
# aiohttp's own refusals, in plain words (its reason phrases are English jargon).
HTTP_WORDS = {
    404: N_("There is no such page. Please use the link from your email."),
    413: N_("What you sent is too large."),
    410: ERASED,  # a download of an erased case's document (runtime/web.py)
    503: STORE_DOWN,  # a download whose store did not answer (runtime/web.py)
}
HTTP_OTHER = N_("We could not do that. Please try again.")
TO_CASE = N_("Back to your case")
TO_FORM = N_("Back to the request form")
# Pages for specialists and staff: their refusals say what to do themselves, in English.
_NOT_MEMBERS = ("/portal/assignments/", "/portal/staff")


async def back_for(request: web.Request, status: int) -> Back | None:
    """Where an error page leads a member back to: their case while they are signed in, the
    request form they were sending, else the page that emails them a new sign-in link.

    A 429 and a request that matched no page are answered without a session lookup: they are
    what a flood is made of, and their refusal must stay cheap, not a query in the case DB."""
    if request.path.startswith(_NOT_MEMBERS):
        return None
    portal = portal_of(request)
    routed = request.match_info.http_exception is None
    who = await _signed_in(request) if status != 429 and routed else None
    if who is not None:
        return Back(f"/portal/cases/{quote(who.case_id)}", gettext(TO_CASE))
    name = request.match_info.get("program", "")
    program = portal.backends.programs.get(name) if request.path.startswith("/portal/request/") else None
    if program is not None and program.portal_intake:
        return Back(f"/portal/request/{quote(name)}", gettext(TO_FORM))
    return Back(new_link.PATH, gettext(new_link.OFFER))


async def _signed_in(request: web.Request) -> Holder | None:
    sid = request.cookies.get(signin.COOKIE, "")
    if not sid:
        return None
    try:
        return await asyncio.to_thread(portal_of(request).links.session, sid)
    except Exception as exc:  # the case DB is the fault being shown: the page still answers
        _log.warning("portal error page: no session check (%s)", type(exc).__name__)
        return None


async def error_page(request: web.Request, status: int, message: str) -> web.Response:
    """A refusal's page: `message` (already in the reader's words), the way back, the desk."""
    back = await back_for(request, status)
    return render("error.html", status, message=message, back=back, desk=portal_of(request).desk)


@web.middleware
async def pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal is a plain page; a fault says only that it happened (never its text)."""
    try:
        return await handler(request)
    except WebError as exc:
        page = await error_page(request, exc.status, gettext(exc.template, **exc.values))
        page.headers.update(exc.headers)  # a 429's Retry-After, a 405's Allow
        return page
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        page = await error_page(request, exc.status, gettext(HTTP_WORDS.get(exc.status, HTTP_OTHER)))
        return page
    except StoreError as exc:
        _log.error("portal %s: %s", request.method, exc)
        return await error_page(request, 503, gettext(STORE_DOWN))
    except CaseErased:
        return await error_page(request, 410, gettext(ERASED))
    except Exception as exc:
        _log.error("portal %s failed: %s", request.method, type(exc).__name__)
        return await error_page(request, 500, gettext(FAULT))


def portal_app(portal: Portal) -> web.Application:
    """The `/portal` sub-application (mounted by `add_portal`)."""
    # Inside `pages`: a form aiohttp cannot read is a 400 page, not a fault (web.portal.malformed).
    # Outermost, the page's language: refusals are shown in it too.
    app = web.Application(middlewares=[languages, pages, malformed_requests])
    app[PORTAL] = portal
    app.add_routes(signin.routes)
    app.add_routes(new_link.routes)
    app.add_routes(member.routes)
    app.add_routes(member_consult.routes)
    app.add_routes(member_release.routes)
    app.add_routes(member_doctor.routes)
    app.add_routes(member_questions.routes)
    app.add_routes(specialist.routes)
    app.add_routes(intake.routes)
    app.add_routes(staff.routes)
    app.add_routes(tasks.routes)
    app.add_routes(opinion_translation.routes)
    app.add_routes(doctor.routes)
    app.add_routes(survey.routes)
    app.router.add_static("/static", STATIC)

    async def finish(_app: web.Application) -> None:
        await portal.finish()

    app.on_cleanup.append(finish)
    return app


def add_portal(app: web.Application, portal: Portal) -> None:
    app.add_subapp("/portal", portal_app(portal))
