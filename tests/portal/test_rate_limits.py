"""The portal's limits fit real members: many of them share one carrier address, and a deployment
runs several web processes.

Per address there is only a coarse flood guard; what is limited is each sign-in link, each
case, each email address and each policy number, counted in the case DB that every process
shares. A member who meets a limit is told when to try again. The work a page does after
answering is bounded too: past the bound it is dropped, not queued. (The new sign-in link's
own limits: tests/portal/test_case_page_new_link.py.)
"""

from __future__ import annotations

import asyncio
import inspect
import secrets
import socket
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from sqlalchemy import create_engine
from sqlmodel.sql.sqltypes import AutoString
from temporalio.client import Client

from models.db import table
from models.intake_tables import RateCounter
from runtime.clients import client_address, trusted_networks
from runtime.portal_links import PortalLinks
from runtime.rate_limits import Rule, SharedCounters
from tests.polling import eventually
from tests.portal.conftest import Site
from tests.portal.test_portal_intake import request_opinion
from tests.portal.test_portal_sign_in import jar, sign_in
from web.backends import Backends
from web.portal import base, ratelimit
from web.portal.base import Portal
from web.server import service_app
from worker import Services


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


def test_every_rules_key_fits_the_counters_column() -> None:
    column = table(RateCounter).c.key.type
    assert isinstance(column, AutoString) and column.length is not None
    counters = SharedCounters(create_engine("sqlite://"), b"k")
    rules = [v for v in vars(ratelimit).values() if isinstance(v, Rule)]
    assert ratelimit.NEW_LINK_MAIL in rules
    for rule in [*rules, Rule("s" * 31, 1, timedelta(hours=1))]:
        assert len(counters.key_for(rule, "subject")) <= column.length, rule
    for scope in ("", "s" * 32):
        with pytest.raises(ValueError, match="scope"):
            Rule(scope, 1, timedelta(hours=1))


async def test_work_past_the_in_flight_bound_is_dropped_not_queued(services: Services) -> None:
    async def no_client() -> Client:
        raise AssertionError("the work after answering here needs no Temporal client")

    backends = Backends(
        settings=services.settings,
        engine=services.engine,
        store=services.store,
        programs=services.programs,
        connect=no_client,
    )
    portal = Portal(backends=backends, links=PortalLinks.from_settings(services.engine, services.settings))
    release = asyncio.Event()
    ran = 0

    async def work() -> None:
        nonlocal ran
        await release.wait()
        ran += 1

    assert all(portal.later(work()) for _ in range(base.IN_FLIGHT))
    extra = work()
    assert portal.later(extra) is False
    assert inspect.getcoroutinestate(extra) == inspect.CORO_CLOSED  # never started, never awaited
    release.set()

    async def running() -> int:
        return len(portal.tasks)

    await eventually(running, lambda n: n == 0)
    assert ran == base.IN_FLIGHT
    # Room again once the work is done.
    assert portal.later(work())
    await portal.finish()
    assert ran == base.IN_FLIGHT + 1
