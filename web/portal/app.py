"""The portal's application: its pages under `/portal`, and refusals shown as plain pages.

Order of the checks: the rate limit (429), the sign-in link or the session cookie (404 for
an unknown link, 410 for a spent, expired or locked one, 401 without a session), the case
is the session's own (404 otherwise, exactly as for a case that does not exist), the CSRF
token on every POST (403), then the inputs (422). Errors are plain pages that name no
member, no diagnosis and no address.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from web.errors import WebError
from web.portal import intake, member, signin, specialist, staff
from web.portal.base import PORTAL, Portal
from web.portal.language import languages
from web.portal.malformed import malformed_requests
from web.portal.pages import STATIC, render

_log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal is a plain page; a fault says only that it happened (never its text)."""
    try:
        return await handler(request)
    except WebError as exc:
        page = render("error.html", exc.status, message=exc.message)
        page.headers.update(getattr(exc, "headers", {}))  # a 429's Retry-After
        return page
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return render("error.html", exc.status, message=exc.reason)
    except Exception as exc:
        _log.error("portal %s failed: %s", request.method, type(exc).__name__)
        return render("error.html", 500, message="Something went wrong on our side. Please try again later.")


def portal_app(portal: Portal) -> web.Application:
    """The `/portal` sub-application (mounted by `add_portal`)."""
    # Inside `pages`: a form aiohttp cannot read is a 400 page, not a fault (web.portal.malformed).
    # Outermost, the page's language: refusals are shown in it too.
    app = web.Application(middlewares=[languages, pages, malformed_requests])
    app[PORTAL] = portal
    app.add_routes(signin.routes)
    app.add_routes(member.routes)
    app.add_routes(specialist.routes)
    app.add_routes(intake.routes)
    app.add_routes(staff.routes)
    app.router.add_static("/static", STATIC)
    return app


def add_portal(app: web.Application, portal: Portal) -> None:
    app.add_subapp("/portal", portal_app(portal))
