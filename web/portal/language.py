"""The language of a portal page: the reader's choice, else their browser's, else English.

A member's own case page is in the case's language (the page sets it, `web.portal.member`);
a specialist's and the staff pages are in English. Everywhere else (sign-in, the request
form, error pages) the reader picks with the switch on every page (`?lang=km`), which a
cookie remembers; before they pick, the browser's Accept-Language decides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from runtime import i18n
from runtime.i18n import Language

COOKIE = "smo_lang"
_YEAR = 365 * 24 * 3600

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def chosen(request: web.Request) -> Language | None:
    """A language the reader asked for on this request (`?lang=`), if it is one we speak."""
    asked = request.query.get("lang", "")
    return Language(asked) if asked in Language.__members__.values() else None


@web.middleware
async def languages(request: web.Request, handler: Handler) -> web.StreamResponse:
    asked = chosen(request)
    remembered = request.cookies.get(COOKIE, "")
    if asked is not None:
        i18n.use(asked)
    elif remembered in Language.__members__.values():
        i18n.use(Language(remembered))
    else:
        i18n.use(i18n.negotiate(request.headers.get("Accept-Language", "")))
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if asked is not None:
            _remember(exc, asked)
        raise
    if asked is not None and not response.prepared:
        _remember(response, asked)
    return response


def _remember(response: web.StreamResponse, language: Language) -> None:
    response.set_cookie(COOKIE, language.value, max_age=_YEAR, path="/portal", httponly=True, samesite="Lax")
