"""Getting back in without help: "Email me a new sign-in link", on the real service.

The page answers the same whether the case exists, the date is wrong or both are right; only
the right pair gets an email, and each outcome is on the audit trail under the anonymous asker.
And what an attacker tries: a flood of requests for one case from one address (it stops that
address, never the member's), many right requests (the member gets the day's few emails, the
answers do not change), a POST without the form's token, a case number made of odd characters.
Requests come from the addresses a trusted proxy names, as behind the deployment's edge.
"""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest
from sqlmodel import Session, select

from models.db import AuditEvent
from tests.polling import eventually
from tests.portal.conftest import MEMBER, Site, sign_in_links
from tests.portal.test_portal_sign_in import date_fields, form_csrf, jar, sign_in
from web.portal import base, ratelimit
from web.portal.new_link import ACTION, ACTOR

PAGE = "/portal/new-link"


@pytest.fixture
def smo_home(smo_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The test client stands in for the edge: its X-Forwarded-For names each request's address.
    monkeypatch.setenv("SMO_TRUSTED_PROXIES", "127.0.0.1")
    return smo_home


def from_address(address: str) -> aiohttp.ClientSession:
    """A browser at `address`, as the proxy in front of the portal names it."""
    return aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"X-Forwarded-For": address}
    )


async def ask(
    http: aiohttp.ClientSession, site: Site, case_id: str, dob: str = MEMBER["date_of_birth"]
) -> tuple[int, str]:
    """The form sent as a browser sends it; the answer's status and the page it leads to."""
    csrf = await form_csrf(http, site.url + PAGE)
    form = {"csrf": csrf, "case_id": case_id, **date_fields("date_of_birth", dob)}
    async with http.post(site.url + PAGE, data=form) as resp:
        return resp.status, await resp.text()


def audited(site: Site) -> list[AuditEvent]:
    with Session(site.engine) as db:
        return list(db.exec(select(AuditEvent).where(AuditEvent.action == ACTION)))


def outcomes(site: Site) -> list[tuple[str | None, str]]:
    return [(e.case_id, e.outcome) for e in audited(site)]


async def counted(site: Site) -> dict[str, int]:
    """How many requests ended in each outcome so far."""
    tally: dict[str, int] = {}
    for _case, outcome in outcomes(site):
        tally[outcome] = tally.get(outcome, 0) + 1
    return tally


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
    await eventually(lambda: sorted_outcomes(site), lambda got: got == expected)
    # Whoever asked is anonymous: not the member, on the trail nor in the case's own timeline.
    assert {e.actor for e in audited(site)} == {ACTOR}
    _, status = await site.api("GET", "/api/v1/cases/AGAIN-1")
    assert any(e["detail"] == f"by {ACTOR}" for e in status["timeline"])
    # The right pair, and it alone, emailed a new link; it signs the member in.
    link = await site.sign_in_link("AGAIN-1", count=2)
    assert len(sign_in_links(site.services, "AGAIN-1")) == 2
    async with jar() as http:
        assert (await sign_in(http, link)).status == 303


async def sorted_outcomes(site: Site) -> list[tuple[str | None, str]]:
    return sorted(outcomes(site), key=str)


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


async def test_one_address_flooding_a_case_cannot_lock_out_its_member_at_another_address(site: Site) -> None:
    await site.open_case("FLOOD-1")
    await site.sign_in_link("FLOOD-1")
    async with from_address("203.0.113.7") as attacker:
        for _ in range(ratelimit.NEW_LINK_CASE.limit):
            assert (await ask(attacker, site, "FLOOD-1", "1971-03-04"))[0] == 200
        csrf = await form_csrf(attacker, site.url + PAGE)
        form = {"csrf": csrf, "case_id": "flood-1", **date_fields("date_of_birth", "1971-03-05")}
        async with attacker.post(site.url + PAGE, data=form, allow_redirects=False) as refused:
            assert refused.status == 429 and int(refused.headers["Retry-After"]) > 0
            assert "Please try again after" in await refused.text()
        # The same address asking about other cases meets its own limit in the end, 429s counted.
        asked = ratelimit.NEW_LINK_CASE.limit + 1
        for n in range(ratelimit.NEW_LINK_FROM.limit - asked):
            assert (await ask(attacker, site, f"FLOOD-X{n}", "1971-03-04"))[0] == 200
        assert (await ask(attacker, site, "FLOOD-Y", "1971-03-04"))[0] == 429
    # The member, at their own address, is answered and emailed.
    async with from_address("198.51.100.9") as member:
        code, text = await ask(member, site, "FLOOD-1")
    assert code == 200 and "If the case number and the date of birth match" in text
    await site.sign_in_link("FLOOD-1", count=2)
    await eventually(lambda: counted(site), lambda got: got.get("accepted") == 1)


async def test_a_member_gets_the_days_few_emails_however_many_right_requests_arrive(site: Site) -> None:
    await site.open_case("CAP-1")
    await site.sign_in_link("CAP-1")
    cap, extra = ratelimit.NEW_LINK_MAIL.limit, 3
    answers = set()
    for n in range(cap + extra):  # from a few addresses, each within its own limits
        async with from_address(f"198.51.100.{n // 2 + 1}") as http:
            code, text = await ask(http, site, "CAP-1")
        answers.add((code, text))
    assert len(answers) == 1 and next(iter(answers))[0] == 200
    tally = await eventually(lambda: counted(site), lambda got: sum(got.values()) == cap + extra)
    assert tally == {"accepted": cap, "throttled": extra}
    # Each accepted request is one email; the throttled ones sent nothing.
    await site.sign_in_link("CAP-1", count=1 + cap)
    assert len(sign_in_links(site.services, "CAP-1")) == 1 + cap
    _, status = await site.api("GET", "/api/v1/cases/CAP-1")
    assert sum(e["detail"] == f"by {ACTOR}" for e in status["timeline"]) == cap


async def test_a_request_finding_the_work_after_answering_full_is_dropped_with_the_same_answer(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(base, "IN_FLIGHT", 0)  # every slot for work after answering is taken
    await site.open_case("FULL-1")
    await site.sign_in_link("FULL-1")
    async with jar() as http:
        code, text = await ask(http, site, "FULL-1")
    assert code == 200 and "If the case number and the date of birth match" in text
    # Nothing was started: the request is on the trail as dropped, naming no case.
    assert outcomes(site) == [(None, "dropped")]
    assert {e.actor for e in audited(site)} == {ACTOR}


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
