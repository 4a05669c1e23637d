"""Who a web request comes from: its client's address, as the web edge determined it.

The edge (web/transport.py) names it on every request, from X-Forwarded-For behind a trusted
proxy; what below the edge is shared out per client (the document store's threads) asks here.
"""

from __future__ import annotations

from aiohttp import web

CLIENT = web.RequestKey("smo_client", str)


def client_of(request: web.BaseRequest) -> str:
    """The request's client: as the edge named it, else the connecting peer."""
    return request.get(CLIENT) or request.remote or ""
