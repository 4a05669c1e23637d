"""The staff page linked from each case's Web UI summary: token sign-in, program scope."""

from __future__ import annotations

import re

import aiohttp

from models.users import Role
from starter import ops
from tests.portal.conftest import Site
from web.tokens import TokenStore

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


async def staff_sign_in(
    http: aiohttp.ClientSession, site: Site, token: str, case: str
) -> aiohttp.ClientResponse:
    async with http.get(site.url + f"/portal/staff/signin?case={case}") as form:
        match = CSRF.search(await form.text())
    assert match
    return await http.post(
        site.url + "/portal/staff/signin",
        data={"csrf": match.group(1), "token": token, "case": case},
        allow_redirects=False,
    )


async def test_the_web_ui_summary_links_to_the_staff_page_which_shows_the_case_to_staff_in_scope(
    site: Site,
) -> None:
    await site.open_case("STAFF-1")
    details = await (await ops.handle_for(site.env.client, "STAFF-1").describe()).static_details()
    assert details is not None
    url = re.search(r"\((http[^)]+/portal/staff/cases/STAFF-1)\)", details)
    assert url, details
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(url.group(1), allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/portal/staff/signin?case=STAFF-1"
        bad = await staff_sign_in(http, site, "smo_" + "x" * 43, "STAFF-1")
        assert bad.status == 401
        resp = await staff_sign_in(http, site, site.coordinator, "STAFF-1")
        assert resp.status == 303 and resp.headers["Location"] == "/portal/staff/cases/STAFF-1"
        async with http.get(url.group(1)) as page:
            assert page.status == 200
            assert "GATHERING_RECORDS" in await page.text()

    # A user scoped to the other program sees the case as missing.
    other = TokenStore(site.engine).add("aa-desk", Role.COORDINATOR, ["assist-america"])
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert (await staff_sign_in(http, site, other, "STAFF-1")).status == 303
        async with http.get(url.group(1)) as page:
            assert page.status == 404
