"""Signing in: the emailed link, the date of birth, the session cookie, and what an attacker tries."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlmodel import Session, select

from models.db import AuditEvent
from models.portal_tables import PortalLink, PortalSession
from runtime.portal_links import PortalLinks, sha256
from tests.portal.conftest import MEMBER, Site

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def jar() -> aiohttp.ClientSession:
    # The dev server is plain http; the cookie is Secure only outside development.
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def form_csrf(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as resp:
        assert resp.status == 200, await resp.text()
        match = CSRF.search(await resp.text())
    assert match
    return match.group(1)


def date_fields(name: str, iso: str) -> dict[str, str]:
    """A date as the portal's forms take it: day, month and year, each its own field."""
    year, month, day = iso.split("-")
    return {f"{name}_day": day.lstrip("0"), f"{name}_month": month.lstrip("0"), f"{name}_year": year}


async def sign_in(http: aiohttp.ClientSession, link: str, dob: str = MEMBER["date_of_birth"]) -> Any:
    csrf = await form_csrf(http, link)
    form = {"csrf": csrf, **date_fields("date_of_birth", dob)}
    return await http.post(link, data=form, allow_redirects=False)


async def test_the_case_opened_email_links_to_the_portal_and_the_link_signs_the_member_in(site: Site) -> None:
    await site.open_case("PORTAL-1")
    link = await site.sign_in_link("PORTAL-1")
    assert "/portal/signin/" in link
    async with jar() as http:
        resp = await sign_in(http, link)
        assert resp.status == 303
        assert resp.headers["Location"] == "/portal/cases/PORTAL-1"
        cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=" in cookie
        async with http.get(site.url + "/portal/cases/PORTAL-1") as page:
            assert page.status == 200
            html = await page.text()
    assert "We are collecting your medical records." in html
    assert "Biopsy report" in html
    with Session(site.engine) as db:
        actors = {e.actor for e in db.exec(select(AuditEvent).where(AuditEvent.action == "portal.sign_in"))}
    assert actors == {"member:PORTAL-1"}


async def test_a_tampered_link_is_404_and_a_spent_one_is_410(site: Site) -> None:
    await site.open_case("PORTAL-2")
    link = await site.sign_in_link("PORTAL-2")
    tampered = link[:-1] + ("A" if link[-1] != "A" else "B")
    async with jar() as http:
        async with http.get(tampered) as resp:
            assert resp.status == 404
        async with http.get(link + "x") as resp:
            assert resp.status == 404
        assert (await sign_in(http, link)).status == 303
    async with jar() as other, other.get(link) as again:
        assert again.status == 410  # single use
        assert "used already" in await again.text()


async def test_five_wrong_dates_of_birth_lock_the_link(site: Site) -> None:
    await site.open_case("PORTAL-3")
    link = await site.sign_in_link("PORTAL-3")
    async with jar() as http:
        for left in (4, 3, 2, 1):
            resp = await sign_in(http, link, "1999-12-31")
            assert resp.status == 401
            assert f"Attempts left: {left}." in await resp.text()
        last = await sign_in(http, link, "1999-12-31")
        assert last.status == 410
        # The right date after the lock opens nothing.
        async with http.get(link) as resp:
            assert resp.status == 410
            assert "locked" in await resp.text()
    with Session(site.engine) as db:
        row = db.get(PortalLink, sha256(link.rsplit("/", 1)[1]))
    assert row is not None and row.locked_at is not None and row.failed_attempts == 5


async def test_an_expired_link_is_410(site: Site) -> None:
    await site.open_case("PORTAL-4")
    link = await site.sign_in_link("PORTAL-4")
    with Session(site.engine) as db:
        row = db.get(PortalLink, sha256(link.rsplit("/", 1)[1]))
        assert row is not None
        assert row.expires_at.replace(tzinfo=UTC) - row.created_at.replace(tzinfo=UTC) <= timedelta(hours=4)
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        db.add(row)
        db.commit()
    async with jar() as http, http.get(link) as resp:
        assert resp.status == 410
        assert "expired" in await resp.text()


async def test_a_post_without_the_csrf_token_is_refused(site: Site) -> None:
    await site.open_case("PORTAL-5")
    link = await site.sign_in_link("PORTAL-5")
    async with jar() as http:
        dob = date_fields("date_of_birth", MEMBER["date_of_birth"])
        resp = await http.post(link, data=dob, allow_redirects=False)
        assert resp.status == 403
        assert (await sign_in(http, link)).status == 303
        page = site.url + "/portal/cases/PORTAL-5"
        resp = await http.post(page + "/contact", data={"email": "x@example.com", "phone": "1"})
        assert resp.status == 403
        resp = await http.post(page + "/contact", data={"csrf": "0" * 64, "email": "x@example.com"})
        assert resp.status == 403


async def test_another_case_answers_404_exactly_like_a_missing_one(site: Site) -> None:
    await site.open_case("PORTAL-6")
    await site.open_case("PORTAL-7", patient_name="Other Member", email="other@example.com")
    link = await site.sign_in_link("PORTAL-6")
    async with jar() as http:
        assert (await sign_in(http, link)).status == 303
        async with http.get(site.url + "/portal/cases/PORTAL-7") as other:
            other_text = await other.text()
            assert other.status == 404
        async with http.get(site.url + "/portal/cases/NO-SUCH-CASE") as missing:
            assert missing.status == 404
            assert await missing.text() == other_text
    async with jar() as anonymous, anonymous.get(site.url + "/portal/cases/PORTAL-6") as resp:
        assert resp.status == 401


async def test_sign_in_rotates_the_session_and_a_session_expires(site: Site) -> None:
    await site.open_case("PORTAL-8")
    first = await site.sign_in_link("PORTAL-8")
    status, _ = await site.api("POST", "/api/v1/cases/PORTAL-8/portal-link", json={})
    assert status in (200, 202)
    second = await site.sign_in_link("PORTAL-8", count=2)
    assert second != first
    async with jar() as http:
        assert (await sign_in(http, first)).status == 303
        old_sid = next(c.value for c in http.cookie_jar if c.key == "smo_portal")
        assert (await sign_in(http, second)).status == 303
        new_sid = next(c.value for c in http.cookie_jar if c.key == "smo_portal")
        assert new_sid != old_sid
    links = PortalLinks.from_settings(site.engine, site.services.settings)
    assert links.session(old_sid) is None  # rotated out at the second sign-in
    assert links.session(new_sid) is not None
    with Session(site.engine) as db:
        row = db.get(PortalSession, sha256(new_sid))
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        db.add(row)
        db.commit()
    async with jar() as http:
        http.cookie_jar.update_cookies({"smo_portal": new_sid})
        async with http.get(site.url + "/portal/cases/PORTAL-8") as resp:
            assert resp.status == 401


async def test_a_khmer_member_s_sign_in_page_opens_in_khmer_with_or_without_lang(site: Site) -> None:
    await site.open_case("PORTAL-KM", language="km")
    link = await site.sign_in_link("PORTAL-KM")
    bare = link.split("?", 1)[0]  # a mail client that drops the query still opens it in Khmer
    async with jar() as http:
        for url in (link, bare):
            async with http.get(url) as resp:
                html = await resp.text()
            assert resp.status == 200 and '<html lang="km">' in html, url
            assert sum("\u1780" <= ch <= "\u17ff" for ch in html) >= 30
        # The reader's own choice wins over the email's language.
        async with http.get(bare + "?lang=en") as resp:
            assert '<html lang="en">' in await resp.text()
