"""The language of a portal page: the reader's choice, else their browser's, else English.

A member's own case pages are in the case's language (the page sets it, `web.portal.member`,
and the switch there changes the case's language); a specialist's and the staff pages are in
English, their refusals too. Everywhere else (sign-in, the request form, error pages) the
reader picks with the switch on every page (`?lang=km`), which a cookie remembers; before they
pick, the browser's Accept-Language decides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from runtime import i18n
from runtime.i18n import Language

COOKIE = "smo_lang"
_YEAR = 365 * 24 * 3600
# Read by specialists (in Texas) and the desk: English only.
ENGLISH_ONLY = ("/portal/assignments/", "/portal/staff")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def chosen(request: web.Request) -> Language | None:
    """A language the reader asked for on this request (`?lang=`), if it is one we speak."""
    asked = request.query.get("lang", "")
    return Language(asked) if asked in Language.__members__.values() else None


@web.middleware
async def languages(request: web.Request, handler: Handler) -> web.StreamResponse:
    asked = chosen(request)
    remembered = request.cookies.get(COOKIE, "")
    if request.path.startswith(ENGLISH_ONLY):
        asked = None
        i18n.use(Language.EN)
    elif asked is not None:
        i18n.use(asked)
    elif remembered in Language.__members__.values():
        i18n.use(Language(remembered))
    else:
        i18n.use(i18n.negotiate(request.headers.get("Accept-Language", "")))
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if asked is not None:
            remember(exc, asked)
        raise
    if asked is not None and not response.prepared:
        remember(response, asked)
    return response


def remember(response: web.StreamResponse, language: Language) -> None:
    """The reader's choice, for the pages they open next (sign-in, errors, signed out)."""
    response.set_cookie(COOKIE, language.value, max_age=_YEAR, path="/portal", httponly=True, samesite="Lax")
