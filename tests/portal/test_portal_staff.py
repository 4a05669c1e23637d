"""The staff side: the staff page linked from the Web UI, `smo portal link`, cookies in production."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from temporalio.testing import WorkflowEnvironment

import service as ops
from models.users import Role
from tests.api.test_thin_cli import bare_env, smo
from tests.portal.conftest import Site
from tests.portal.test_portal_sign_in import jar, sign_in
from web.server import service_app
from web.tokens import TokenStore
from worker import Services, build_worker


def worker_for(env: WorkflowEnvironment, services: Services) -> Any:
    return build_worker(env.client, services, workflow_failure_exception_types=[Exception])


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
        async with http.get(site.url + "/portal/staff/signin", headers={"Accept-Language": "km"}) as form:
            assert '<html lang="en">' in await form.text()
        bad = await staff_sign_in(http, site, "smo_" + "x" * 43, "STAFF-1")
        assert bad.status == 401 and '<html lang="en">' in await bad.text()
        resp = await staff_sign_in(http, site, site.coordinator, "STAFF-1")
        assert resp.status == 303 and resp.headers["Location"] == "/portal/staff/cases/STAFF-1"
        async with http.get(url.group(1), headers={"Accept-Language": "km"}) as page:
            assert page.status == 200
            html = await page.text()
        assert "GATHERING_RECORDS" in html
        # English for the desk whatever the browser prefers, no switch, and one zone, named.
        assert '<html lang="en">' in html and 'class="languages"' not in html
        assert "(ICT, UTC+07:00)" in html
        times = re.findall(r"<li>([^<]*?): ", html)
        assert times and all(t.endswith(" ICT") for t in times), times

    # A user scoped to the other program sees the case as missing.
    other = TokenStore(site.engine).add("aa-desk", Role.COORDINATOR, ["assist-america"])
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert (await staff_sign_in(http, site, other, "STAFF-1")).status == 303
        async with http.get(url.group(1)) as page:
            assert page.status == 404


async def test_smo_portal_link_emails_the_member_a_fresh_link_that_works(site: Site, tmp_path: Path) -> None:
    await site.open_case("RESEND-1")
    first = await site.sign_in_link("RESEND-1")
    code, _, err = await smo(
        "portal", "link", "RESEND-1", env=bare_env(site.url, site.coordinator), cwd=tmp_path
    )
    assert code == 0, err
    second = await site.sign_in_link("RESEND-1", count=2)
    assert second != first
    async with jar() as http:
        assert (await sign_in(http, second)).status == 303
    code, _, err = await smo(
        "portal", "link", "NO-SUCH-CASE", env=bare_env(site.url, site.coordinator), cwd=tmp_path
    )
    assert code == 2 and "no such case" in err


async def test_outside_development_the_session_cookie_is_secure(
    services: Services, dev_env: WorkflowEnvironment
) -> None:
    async def client() -> Any:
        return dev_env.client

    app = service_app(services.settings, services, dev=False, client=client)
    async with TestServer(app) as server, worker_for(dev_env, services):
        token = TokenStore(services.engine).add("desk", Role.COORDINATOR)
        site = Site(str(server.make_url("")).rstrip("/"), services, dev_env, token)
        await site.open_case("SECURE-1")
        link = await site.sign_in_link("SECURE-1")
        path = link[link.index("/portal/") :]
        async with jar() as http:
            resp = await sign_in(http, site.url + path)
            assert resp.status == 303
            assert "Secure" in resp.headers["Set-Cookie"] and "HttpOnly" in resp.headers["Set-Cookie"]
