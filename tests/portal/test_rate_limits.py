"""The portal's limits fit real members: many of them share one carrier address, and a deployment
runs several web processes.

Per address there is only a coarse flood guard; what is limited is each sign-in link, each
case, each email address and each policy number, counted in the case DB that every process
shares. A member who meets a limit is told when to try again.
"""

from __future__ import annotations

import asyncio
import secrets
import socket

import aiohttp
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from temporalio.client import Client

from runtime.clients import client_address, trusted_networks
from tests.portal.conftest import Site
from tests.portal.test_portal_intake import request_opinion
from tests.portal.test_portal_sign_in import jar, sign_in
from web.portal import ratelimit
from web.server import service_app


async def test_a_thousand_requests_from_one_address_do_not_lock_out_a_member_signing_in_with_their_own_link(
    site: Site,
) -> None:
    await site.open_case("RL-1")
    link = await site.sign_in_link("RL-1")
    gate = asyncio.Semaphore(16)

    async def guess(http: aiohttp.ClientSession) -> int:
        async with gate, http.get(f"{site.url}/portal/signin/{secrets.token_urlsafe(32)}") as resp:
            return resp.status

    # Someone behind the same carrier address tries a thousand made-up links.
    async with jar() as http:
        statuses = await asyncio.gather(*(guess(http) for _ in range(1000)))
    assert set(statuses) == {404}
    async with jar() as member:
        resp = await sign_in(member, link)
        assert resp.status == 303, await resp.text()
        assert resp.headers["Location"] == "/portal/cases/RL-1"


async def test_one_link_is_limited_across_two_web_processes_and_the_page_says_when_to_try_again(
    site: Site,
) -> None:
    await site.open_case("RL-2")
    await site.open_case("RL-3", patient_name="Other Member", email="other@example.com")
    link, other = await site.sign_in_link("RL-2"), await site.sign_in_link("RL-3")

    async def client() -> Client:
        return site.env.client

    # A second `smo web` process over the same case DB.
    second = web.AppRunner(service_app(site.services.settings, site.services, dev=True, client=client))
    await second.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(second, sock).start()
    path = link.removeprefix(site.url)
    bases = [site.url, f"http://127.0.0.1:{sock.getsockname()[1]}"]
    try:
        async with jar() as http:
            statuses = []
            for i in range(ratelimit.LINK.limit):
                async with http.get(bases[i % 2] + path) as resp:
                    statuses.append(resp.status)
            assert statuses == [200] * ratelimit.LINK.limit
            async with http.get(bases[1] + path) as refused:
                assert refused.status == 429
                text = await refused.text()
                assert 1 <= int(refused.headers["Retry-After"]) <= 300
            assert "Please try again after" in text and "minutes" in text
            async with http.get(other) as resp:  # another member's link is not held up
                assert resp.status == 200
    finally:
        await second.cleanup()
        sock.close()


async def test_the_request_form_is_limited_per_email_address(site: Site) -> None:
    async with jar() as http:
        for _ in range(ratelimit.EMAIL.limit):
            assert (await request_opinion(http, site, files=1, email="many@example.com")).status == 303
        refused = await request_opinion(http, site, files=1, email="Many@Example.com")
        assert refused.status == 429
        # The same mailbox under a `+tag` is the same address to the limit.
        assert (await request_opinion(http, site, files=1, email="many+6@example.com")).status == 429
        assert int(refused.headers["Retry-After"]) > 0
        assert "Please try again after" in await refused.text()
        assert (await request_opinion(http, site, files=1, email="someone@example.com")).status == 303


class _Peer:
    """The transport of a mocked request, connected from `address`."""

    def __init__(self, address: str) -> None:
        self.address = address

    def get_extra_info(self, name: str, default: object = None) -> object:
        return (self.address, 40000) if name == "peername" else default


def from_peer(address: str, forwarded: str) -> web.Request:
    headers = {"X-Forwarded-For": forwarded}
    return make_mocked_request("GET", "/portal/request", headers=headers, transport=_Peer(address))


def test_x_forwarded_for_names_the_client_only_behind_a_trusted_proxy() -> None:
    request = from_peer("192.0.2.1", "203.0.113.7, 10.0.0.5")
    assert client_address(request, trusted_networks("")) == "192.0.2.1"  # by default: the peer
    assert client_address(request, trusted_networks("192.0.2.1")) == "10.0.0.5"
    assert client_address(request, trusted_networks("192.0.2.0/24, 10.0.0.0/8")) == "203.0.113.7"
    # A client that is not a trusted proxy cannot name another address for itself.
    assert client_address(from_peer("198.51.100.9", "203.0.113.7"), trusted_networks("10.0.0.0/8")) == (
        "198.51.100.9"
    )
    assert client_address(from_peer("192.0.2.1", "not-an-address"), trusted_networks("192.0.2.1")) == (
        "192.0.2.1"
    )
