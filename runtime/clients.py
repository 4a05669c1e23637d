"""Who a web request comes from: its client's address, as the web edge determined it.

The edge (web/transport.py) names it once on every request, from X-Forwarded-For behind a
proxy named in `SMO_TRUSTED_PROXIES`; what is shared out or limited per client (the document
store's threads, the portal's flood guard) asks here.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

CLIENT = web.RequestKey("smo_client", str)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_of(request: web.BaseRequest) -> str:
    """The request's client: as the edge named it, else the connecting peer."""
    return request.get(CLIENT) or request.remote or ""


def trusted_networks(setting: str) -> tuple[Network, ...]:
    """`SMO_TRUSTED_PROXIES`: comma-separated addresses or networks (empty: trust none)."""
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in setting.split(",") if p.strip())


def _trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def client_address(request: web.BaseRequest, proxies: tuple[Network, ...]) -> str:
    """The peer's address; behind trusted proxies, the nearest forwarded address none of them is."""
    address = request.remote or "?"
    if not proxies or not _trusted(address, proxies):
        return address
    forwarded = ",".join(request.headers.getall("X-Forwarded-For", []))
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # a malformed hop: trust nothing further left
        address = hop
        if not _trusted(hop, proxies):
            break
    return address
