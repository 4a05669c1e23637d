"""The specialists' and the desk's pages are in English, whatever the reader's browser asks for.

The specialists (in the US) and the desk read English only, so their pages are not in the
catalogs and show no language switch. A handler wrapped in `english` renders in English, and
so does any refusal it raises: the portal's error page is drawn in the same request's task.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from runtime import i18n
from runtime.i18n import Language

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def english(handler: Handler) -> Handler:
    """`handler`, with the request's language set to English before it starts."""

    @functools.wraps(handler)
    async def in_english(request: web.Request) -> web.StreamResponse:
        i18n.use(Language.EN)
        return await handler(request)

    return in_english
