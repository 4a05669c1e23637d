"""Requests the portal cannot take as sent: a form it cannot read, a method a page does not take.

The pages read their forms with aiohttp (`request.post()`, or the upload reader's parts), and
aiohttp refuses a body it cannot decode by raising: bytes that are not UTF-8, a charset that
does not exist, a multipart body without its boundary. Those are the sender's mistakes, not
faults of ours: anywhere a page reads its form, such a refusal becomes a 400 page here, before
the portal's last resort (`web.portal.app.pages`) would call it a 500. A method a page does
not take is a 405 page that keeps its `Allow` header. Neither page repeats what was sent.
"""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

from runtime.i18n import N_
from web.errors import WebError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

UNREADABLE = N_("The form could not be read. Reload the page and try again.")
WRONG_METHOD = N_("This page does not take that kind of request.")
# aiohttp's modules that read a request's body: an error raised inside one of them is about
# the bytes the client sent.
_READERS = frozenset(
    {"aiohttp.web_request", "aiohttp.multipart", "aiohttp.helpers", "aiohttp.streams", "aiohttp.formdata"}
)


def _raised_reading_the_request(exc: BaseException) -> bool:
    """Whether `exc` was raised by aiohttp while it read the request's body."""
    frames = list(traceback.walk_tb(exc.__traceback__))
    return bool(frames) and frames[-1][0].f_globals.get("__name__") in _READERS


@web.middleware
async def malformed_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed as exc:
        refused = WebError(405, WRONG_METHOD)
        refused.headers = {hdrs.ALLOW: exc.headers.get(hdrs.ALLOW, "")}  # shown by the portal's `pages`
        raise refused from None
    except (ValueError, LookupError, AssertionError) as exc:  # UnicodeDecodeError is a ValueError
        if _raised_reading_the_request(exc):
            raise WebError(400, UNREADABLE) from None
        raise
