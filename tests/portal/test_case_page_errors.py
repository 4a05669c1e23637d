"""A refusal in two edges: the API's JSON keeps the English filled in, the portal's page says it in
the reader's language, with the way back and the desk (rendered without a server). And on the
real service: the refusals a flood is made of (a 429, a page that is not there) stay cheap, with
no session lookup in the case DB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from runtime import i18n
from runtime.i18n import Language
from runtime.portal_links import Holder, PortalLinks
from tests.portal.conftest import Site
from tests.portal.test_case_page_new_link import ask
from tests.portal.test_portal_sign_in import jar, sign_in
from web.errors import WebError
from web.portal import ratelimit
from web.portal.base import Desk
from web.portal.pages import Back, render
from web.portal.ratelimit import TooManyRequests

NOW = datetime(2026, 4, 14, 10, 0, tzinfo=UTC)  # 17:00 ICT


def test_a_refusal_with_values_is_filled_in_for_the_api_and_kept_apart_for_the_page() -> None:
    refused = WebError(409, "Your case has %(n)s documents.", n=3)
    assert (refused.status, refused.message, str(refused)) == (
        409,
        "Your case has 3 documents.",
        refused.message,
    )
    assert (refused.template, refused.values) == ("Your case has %(n)s documents.", {"n": 3})
    plain = WebError(404, "100% gone")  # no values: the sentence is taken as it is
    assert plain.message == plain.template == "100% gone"


def test_too_many_requests_says_when_in_the_members_clock() -> None:
    soon = TooManyRequests(timedelta(seconds=170), NOW)
    assert soon.message == "Too many attempts. Please try again after 17:03 ICT (in about 3 minutes)."
    assert soon.headers == {"Retry-After": "170"}
    assert TooManyRequests(timedelta(seconds=20), NOW).message.endswith("17:01 ICT (in about a minute).")
    assert TooManyRequests(timedelta(hours=2), NOW).message.endswith("19:00 ICT (in about 2 hours).")


def test_the_error_page_is_in_the_readers_language_and_leads_back() -> None:
    back = Back("/portal/cases/SMO-1", "Back to your case")
    for language in Language:
        with i18n.using(language):
            page = render("error.html", 403, message="m", back=back, desk=Desk("desk@example.org", "+855 1"))
        assert page.status == 403 and page.text is not None
        assert f'<html lang="{language.value}">' in page.text
        assert page.headers["Content-Language"] == language.value
        assert 'id="back" href="/portal/cases/SMO-1"' in page.text and "desk@example.org" in page.text


async def test_a_429_and_a_page_that_is_not_there_lead_to_a_new_link_without_a_session_lookup(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    await site.open_case("QUIET-1")
    link = await site.sign_in_link("QUIET-1")
    lookups: list[str] = []
    session = PortalLinks.session

    def counted(links: PortalLinks, sid: str, now: datetime | None = None) -> Holder | None:
        lookups.append(sid)
        return session(links, sid, now)

    monkeypatch.setattr(PortalLinks, "session", counted)
    async with jar() as http:
        assert (await sign_in(http, link)).status == 303
        # A refusal on a page that exists looks the session up and leads back to the case.
        lookups.clear()
        async with http.get(site.url + "/portal/cases/QUIET-2") as other:
            assert other.status == 404 and 'id="back" href="/portal/cases/QUIET-1"' in await other.text()
        assert lookups
        lookups.clear()
        async with http.get(site.url + "/portal/no/such/page") as missing:
            assert missing.status == 404 and 'id="back" href="/portal/new-link"' in await missing.text()
        for n in range(ratelimit.NEW_LINK_FROM.limit):
            assert (await ask(http, site, f"QUIET-{n + 2}", "1971-03-04"))[0] == 200
        code, text = await ask(http, site, "QUIET-1")
        assert code == 429 and 'id="back" href="/portal/new-link"' in text
    assert lookups == []
