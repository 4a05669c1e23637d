"""Getting back in without help: "Email me a new sign-in link", on the real service.

The page answers the same whether the case exists, the date is wrong or both are right; only
the right pair gets an email, and each outcome is on the audit trail. And what an attacker
tries: a flood of requests for one case, a POST without the form's token, a case number made
of odd characters.
"""

from __future__ import annotations

import re

import aiohttp
from sqlmodel import Session, select

from models.db import AuditEvent
from tests.polling import eventually
from tests.portal.conftest import MEMBER, Site, sign_in_links
from tests.portal.test_portal_sign_in import date_fields, form_csrf, jar, sign_in
from web.portal import ratelimit
from web.portal.new_link import ACTION

PAGE = "/portal/new-link"


async def ask(
    http: aiohttp.ClientSession, site: Site, case_id: str, dob: str = MEMBER["date_of_birth"]
) -> tuple[int, str]:
    """The form sent as a browser sends it; the answer's status and the page it leads to."""
    csrf = await form_csrf(http, site.url + PAGE)
    form = {"csrf": csrf, "case_id": case_id, **date_fields("date_of_birth", dob)}
    async with http.post(site.url + PAGE, data=form) as resp:
        return resp.status, await resp.text()


def outcomes(site: Site) -> list[tuple[str | None, str]]:
    with Session(site.engine) as db:
        rows = db.exec(select(AuditEvent).where(AuditEvent.action == ACTION))
        return [(e.case_id, e.outcome) for e in rows]


async def test_the_answer_is_the_same_for_an_unknown_case_a_wrong_date_and_a_right_one(site: Site) -> None:
    await site.open_case("AGAIN-1")
    await site.sign_in_link("AGAIN-1")
    async with jar() as http:
        unknown = await ask(http, site, "NO-SUCH-CASE")
        wrong = await ask(http, site, "AGAIN-1", "1971-03-04")
        right = await ask(http, site, "AGAIN-1")
    assert unknown == wrong == right
    assert right[0] == 200 and "If the case number and the date of birth match" in right[1]
    for value in ("NO-SUCH-CASE", "AGAIN-1", "1971", MEMBER["email"]):
        assert value not in right[1]

    expected = sorted([(None, "unknown-case"), ("AGAIN-1", "wrong-dob"), ("AGAIN-1", "accepted")], key=str)

    async def audited() -> list[tuple[str | None, str]]:
        return sorted(outcomes(site), key=str)

    await eventually(audited, lambda got: got == expected)
    # The right pair, and it alone, emailed a new link; it signs the member in.
    link = await site.sign_in_link("AGAIN-1", count=2)
    assert len(sign_in_links(site.services, "AGAIN-1")) == 2
    async with jar() as http:
        assert (await sign_in(http, link)).status == 303


async def test_the_sign_in_page_and_a_spent_link_lead_to_the_new_link_page_and_the_desk(site: Site) -> None:
    await site.open_case("AGAIN-2")
    link = await site.sign_in_link("AGAIN-2")
    async with jar() as http:
        async with http.get(link) as form:
            assert 'href="/portal/new-link"' in await form.text()
        assert (await sign_in(http, link)).status == 303
    async with jar() as other, other.get(link) as spent:
        text = await spent.text()
    assert spent.status == 410 and "used already" in text
    assert 'id="back" href="/portal/new-link"' in text and site.services.settings.desk_email in text
    async with jar() as http, http.get(site.url + PAGE) as page:
        text = await page.text()
    assert page.status == 200 and site.services.settings.desk_phone in text
    assert 'name="date_of_birth_day"' in text and 'name="date_of_birth_month"' in text


async def test_a_flood_of_requests_for_one_case_is_stopped_and_says_when_to_try_again(site: Site) -> None:
    async with jar() as http:
        for _ in range(ratelimit.NEW_LINK.limit):
            assert (await ask(http, site, "FLOOD-1", "1971-03-04"))[0] == 200
        csrf = await form_csrf(http, site.url + PAGE)
        form = {"csrf": csrf, "case_id": "flood-1", **date_fields("date_of_birth", "1971-03-05")}
        async with http.post(site.url + PAGE, data=form, allow_redirects=False) as refused:
            assert refused.status == 429 and int(refused.headers["Retry-After"]) > 0
            assert "Please try again after" in await refused.text()
        # Another case number is not held up.
        assert (await ask(http, site, "FLOOD-2", "1971-03-04"))[0] == 200


async def test_a_post_without_the_forms_token_is_refused(site: Site) -> None:
    form = {"case_id": "AGAIN-3", **date_fields("date_of_birth", MEMBER["date_of_birth"])}
    async with jar() as http:
        async with http.post(site.url + PAGE, data=form, allow_redirects=False) as resp:
            assert resp.status == 403
        csrf = await form_csrf(http, site.url + PAGE)
        http.cookie_jar.clear()  # the token without the cookie it is bound to
        async with http.post(site.url + PAGE, data=form | {"csrf": csrf}, allow_redirects=False) as resp:
            assert resp.status == 403
    assert outcomes(site) == []


ODD = [
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "A" * 65,
    "SMO..1",
    "SMO-1\n2",
    "'; DROP TABLE x;--",
    "",
]


async def test_a_case_number_with_odd_characters_is_refused_and_not_repeated(site: Site) -> None:
    async with jar() as http:
        for case_id in ODD:
            code, text = await ask(http, site, case_id)
            assert code == 422 and "Please check the case number" in text, case_id
            assert 'href="/portal/new-link"' in text
            if case_id:
                assert case_id not in text and re.sub(r"[<>]", "", case_id) not in text
    assert outcomes(site) == []
