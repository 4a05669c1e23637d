"""The member's consult on their case page, on the real service: the slot picker offers the case
service's proposals in the member's zone, a pick is booked, moved and cancelled with the booked
consult's number, the member's hours decide what is offered, and inside the notice the page
sends them to the desk.

And what an attacker posts there: a slot without its offset, one the slot rule does not
propose, a forged CSRF token, a consult number that is not the booked one, another case's
page, an unknown zone, hours that end before they start or past midnight, and anything after
the case has ended. Each is refused and nothing changes.
"""

from __future__ import annotations

import dataclasses
import html
import re
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest

import service
from calendars import consult_slots as cs
from models.users import Role
from runtime import consult_holds, i18n
from runtime.consult_holds import MemberHours
from runtime.i18n import ICT, Language
from service import consults
from tests.portal.conftest import Site
from tests.portal.test_portal_consult_slots import delivered, next_sunday_3am
from tests.portal.test_portal_sign_in import CSRF, jar, sign_in
from web.portal.member_consult import BAD_HOURS, BAD_ZONE, FINISHED, STALE, TOO_LATE, UNCHOSEN
from web.tokens import TokenStore

SLOT = re.compile(r'name="slot" value="([^"]+)"')


def part(page: str, form_id: str) -> str:
    """The form with `id` on the page (its markup up to its end)."""
    start = page.index(f'id="{form_id}"')
    return page[start : page.index("</form>", start)]


def offered(page: str, form_id: str) -> list[str]:
    return SLOT.findall(part(page, form_id))


async def read(http: aiohttp.ClientSession, url: str) -> tuple[str, str]:
    """The page's text (entities read) and its CSRF token."""
    async with http.get(url) as resp:
        text = await resp.text()
        assert resp.status == 200, text
    match = CSRF.search(text)
    assert match
    return html.unescape(text), match.group(1)


async def post(http: aiohttp.ClientSession, url: str, data: dict[str, str]) -> tuple[int, str]:
    async with http.post(url, data=data) as resp:
        return resp.status, html.unescape(await resp.text())


async def member(site: Site, case_id: str, **details: Any) -> tuple[aiohttp.ClientSession, str]:
    """A member signed in to their case once its report is out, and their page's address."""
    await delivered(site, case_id, **details)
    http = jar()
    assert (await sign_in(http, await site.sign_in_link(case_id))).status == 303
    return http, f"{site.url}/portal/cases/{case_id}"


async def status_of(site: Site, case_id: str) -> dict[str, Any]:
    _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
    return dict(status)


async def trail(site: Site, case_id: str, action: str) -> list[tuple[str, str]]:
    _, found = await site.api("GET", f"/api/v1/cases/{case_id}/audit")
    return [(e["actor"], e["outcome"]) for e in found["events"] if e["action"] == action]


def middle(values: list[str]) -> str:
    """A choice from the middle: the first may fall inside the notice while the test runs."""
    assert values, "no slot offered"
    return values[len(values) // 2]


async def test_a_member_books_a_proposed_slot_then_moves_and_cancels_it_from_their_page(site: Site) -> None:
    http, url = await member(site, "PCM-1", phone="+855 12 345 678")
    async with http:
        page, csrf = await read(http, url)
        choices = offered(page, "book")
        _, found = await site.api("GET", "/api/v1/cases/PCM-1/consults/slots")
        proposed = {datetime.fromisoformat(s["start"]) for s in found["slots"]}
        shown = [datetime.fromisoformat(value) for value in choices]
        # The service's proposals, in the member's zone (ICT until they choose): the page was read
        # a moment earlier, so it may offer one more at the start.
        assert proposed <= set(shown) and len(shown) - len(proposed) <= 1
        assert all(value.endswith("+07:00") for value in choices)
        assert re.search(r"> \d\d:[03]0 ICT</label>", part(page, "book"))

        pick = middle(choices)
        code, page = await post(http, url + "/consult", {"csrf": csrf, "slot": pick})
        assert code == 200, page
        at = datetime.fromisoformat(pick)
        assert i18n.when(at, Language.EN, ICT) in page
        assert "The specialist will call you on +855 12 345 678" in page
        assert 'id="book"' not in page and pick not in offered(page, "move")
        status = await status_of(site, "PCM-1")
        assert status["consult_pending"] and datetime.fromisoformat(status["consult_at"]) == at

        moved = middle([value for value in offered(page, "move") if value != pick])
        n = str(status["consult_number"])
        code, page = await post(http, url + "/consult/move", {"csrf": csrf, "n": n, "slot": moved})
        assert code == 200 and "is moved" in page, page
        status = await status_of(site, "PCM-1")
        assert datetime.fromisoformat(status["consult_at"]) == datetime.fromisoformat(moved)
        assert status["consult_sequence"] == 1
        held = consult_holds.others_booked(site.engine, status["specialist_id"], "another case")
        assert datetime.fromisoformat(moved) in held and at not in held  # the old slot let go

        code, page = await post(http, url + "/consult/cancel", {"csrf": csrf, "n": n})
        assert code == 200 and "is cancelled" in page, page
        assert 'id="book"' in page and "includes a telephone consultation" in page  # the next is free
    status = await status_of(site, "PCM-1")
    assert not status["consult_pending"] and status["consult_rebook_free"] == 1
    for action in ("consult.book", "consult.reschedule", "consult.cancel"):
        assert ("member:PCM-1", "accepted") in await trail(site, "PCM-1", action), action


async def test_forged_and_foreign_consult_forms_are_refused_and_nothing_changes(site: Site) -> None:
    await site.open_case("PCM-3")  # someone else's case
    http, url = await member(site, "PCM-2")
    async with http:
        page, csrf = await read(http, url)
        pick = middle(offered(page, "book"))
        at = datetime.fromisoformat(pick)
        sunday = next_sunday_3am().isoformat()
        for data, code, words in [
            ({"csrf": csrf, "slot": at.replace(tzinfo=None).isoformat()}, 422, UNCHOSEN),
            ({"csrf": csrf, "slot": ""}, 422, UNCHOSEN),
            ({"csrf": csrf, "slot": "next tuesday"}, 422, UNCHOSEN),
            ({"csrf": csrf, "slot": sunday}, 422, cs.SPECIALIST_HOURS),
            ({"csrf": csrf, "slot": (at + timedelta(minutes=10)).isoformat()}, 422, cs.NOT_ON_GRID),
            ({"csrf": "0" * 64, "slot": pick}, 403, "This form has expired"),
        ]:
            got, text = await post(http, url + "/consult", data)
            assert (got, words in text) == (code, True), (data, text)
        assert not (await status_of(site, "PCM-2"))["consult_pending"]

        code, page = await post(http, url + "/consult", {"csrf": csrf, "slot": pick})
        assert code == 200, page
        before = await status_of(site, "PCM-2")
        n = before["consult_number"]
        other = middle([value for value in offered(page, "move") if value != pick])
        foreign = site.url + "/portal/cases/PCM-3/consult"
        for path, data, code, words in [
            ("/move", {"csrf": csrf, "n": str(n + 1), "slot": other}, 409, STALE),
            ("/cancel", {"csrf": csrf, "n": str(n + 1)}, 409, STALE),
            ("/cancel", {"csrf": csrf, "n": "1 OR 1=1"}, 409, STALE),
            ("/move", {"csrf": csrf, "n": str(n), "slot": sunday}, 422, cs.SPECIALIST_HOURS),
            ("/move", {"csrf": csrf, "n": str(n), "slot": other[:16]}, 422, UNCHOSEN),
            ("/move", {"csrf": "0" * 64, "n": str(n), "slot": other}, 403, "This form has expired"),
            ("/cancel", {"csrf": "0" * 64, "n": str(n)}, 403, "This form has expired"),
        ]:
            got, text = await post(http, url + "/consult" + path, data)
            assert (got, words in text) == (code, True), (path, data, text)
        for path in ("", "/move", "/cancel", "/hours"):
            got, _ = await post(http, foreign + path, {"csrf": csrf, "n": "1", "slot": other})
            assert got == 404, path
    after = await status_of(site, "PCM-2")
    for field in ("consult_pending", "consult_at", "consult_number", "consult_sequence", "consults_booked"):
        assert after[field] == before[field], field
    assert (await status_of(site, "PCM-3"))["consults_booked"] == 0
    assert ("member:PCM-2", "refused") in await trail(site, "PCM-2", "consult.reschedule")
    assert ("member:PCM-2", "refused") in await trail(site, "PCM-2", "consult.cancel")
    assert await trail(site, "PCM-3", "consult.cancel") == []


async def test_the_members_hours_decide_the_slots_offered_and_bad_hours_change_nothing(site: Site) -> None:
    http, url = await member(site, "PCM-4")
    hours = url + "/consult/hours"
    async with http:
        page, csrf = await read(http, url)
        assert '<option value="Asia/Phnom_Penh" selected>' in part(page, "hours")
        good = {"csrf": csrf, "zone": "Asia/Phnom_Penh", "hours_from": "08:00", "hours_to": "21:00"}
        for changes, words in [
            ({"zone": "Mars/Olympus_Mons"}, BAD_ZONE),
            ({"zone_other": "../../etc/passwd"}, BAD_ZONE),
            ({"zone_other": "Asia/" + "X" * 80}, BAD_ZONE),
            ({"hours_from": "23:00", "hours_to": "07:00"}, BAD_HOURS),
            ({"hours_from": "08:00", "hours_to": "25:00"}, BAD_HOURS),
            ({"hours_from": "08:15", "hours_to": "21:00"}, BAD_HOURS),
            ({"hours_from": "09:00", "hours_to": "09:00"}, BAD_HOURS),
            ({"hours_to": ""}, BAD_HOURS),
        ]:
            got, text = await post(http, hours, good | changes)
            assert (got, words in text) == (422, True), (changes, text)
        got, _ = await post(http, hours, good | {"csrf": "0" * 64, "zone": "Asia/Tokyo"})
        assert got == 403
        assert await service.member_hours(site.engine, "PCM-4") == MemberHours()

        # Typed as a place is written: the tz database's key is kept.
        tokyo = good | {"zone_other": "Asia/Tokyo ", "hours_from": "08:00", "hours_to": "13:00"}
        code, page = await post(http, hours, tokyo)
        assert code == 200 and "Your hours are saved" in page, page
        assert await service.member_hours(site.engine, "PCM-4") == MemberHours("Asia/Tokyo", "08:00-13:00")
        assert '<option value="Asia/Tokyo" selected>' in part(page, "hours")
        choices = [datetime.fromisoformat(value) for value in offered(page, "book")]
        assert choices and all(c.utcoffset() == timedelta(hours=9) for c in choices)
        assert all("08:00" <= f"{c:%H:%M}" <= "12:30" for c in choices)
        assert " JST</label>" in part(page, "book")

        code, page = await post(http, hours, good | {"hours_from": "00:00", "hours_to": "01:00"})
        assert code == 200 and 'id="book"' not in page, page
        assert "Our desk will contact you" in page
    outcomes = await trail(site, "PCM-4", "consult.hours")
    assert outcomes == [("member:PCM-4", "ok"), ("member:PCM-4", "ok")]


async def test_inside_the_notice_the_member_is_sent_to_the_desk_and_nothing_moves(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    http, url = await member(site, "PCM-5")
    async with http:
        page, csrf = await read(http, url)
        pick = middle(offered(page, "book"))
        code, page = await post(http, url + "/consult", {"csrf": csrf, "slot": pick})
        assert code == 200 and 'id="move"' in page and 'id="cancel"' in page, page
        before = await status_of(site, "PCM-5")

        # The clock moves on to two hours before the consult (the slot rule's "now").
        real = consults.consult_rule

        async def later(*args: Any) -> service.ConsultRule:
            found = await real(*args)
            at = found.status.consult_at
            assert at is not None
            return dataclasses.replace(
                found, rule=dataclasses.replace(found.rule, now=at - timedelta(hours=2))
            )

        monkeypatch.setattr(consults, "consult_rule", later)
        monkeypatch.setattr(service, "consult_rule", later)
        page, _ = await read(http, url)
        too_late = re.search(r'<p id="too-late">.*?</p>', page, re.DOTALL)
        assert too_late and site.services.settings.desk_email in too_late.group(0), page
        assert 'id="move"' not in page and 'id="cancel"' not in page and 'id="hours"' not in page
        n, other = str(before["consult_number"]), next_sunday_3am().isoformat()
        for path, data in [
            ("/move", {"csrf": csrf, "n": n, "slot": other}),
            ("/cancel", {"csrf": csrf, "n": n}),
        ]:
            got, text = await post(http, url + "/consult" + path, data)
            assert (got, TOO_LATE in text) == (409, True), (path, text)
    after = await status_of(site, "PCM-5")
    assert (after["consult_at"], after["consult_sequence"]) == (before["consult_at"], 0)
    assert after["consult_pending"]
    assert ("member:PCM-5", "refused") in await trail(site, "PCM-5", "consult.cancel")


async def end(site: Site, case_id: str, how: str) -> None:
    """Close the case (its consult held first: a case closes once no consult is pending), or
    cancel it with the consult still booked (a supervisor's call)."""
    if how == "CLOSED":
        code, body = await site.api("POST", f"/api/v1/cases/{case_id}/consults/complete", json={})
        assert code == 200, body
        code, body = await site.api("POST", f"/api/v1/cases/{case_id}/close", json={})
        assert code == 200, body
    else:
        supervisor = TokenStore(site.engine).add("boss", Role.SUPERVISOR)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {supervisor}"}) as boss:
            resp = await boss.post(
                site.url + f"/api/v1/cases/{case_id}/cancel", json={"reason": "member asked"}
            )
            assert resp.status == 200, await resp.text()
    await site.stage(case_id, how)


@pytest.mark.parametrize("how", ["CLOSED", "CANCELLED"])
async def test_after_the_case_has_ended_the_member_changes_nothing(site: Site, how: str) -> None:
    case_id = f"PCM-6-{how[:2]}"
    http, url = await member(site, case_id)
    async with http:
        page, csrf = await read(http, url)
        pick = middle(offered(page, "book"))
        code, _ = await post(http, url + "/consult", {"csrf": csrf, "slot": pick})
        assert code == 200
        n = str((await status_of(site, case_id))["consult_number"])
        await end(site, case_id, how)
        page, _ = await read(http, url)
        assert 'id="consult"' not in page  # a case that has ended offers no consult
        hours = {"zone": "Asia/Tokyo", "hours_from": "08:00", "hours_to": "12:00"}
        for path, data in [
            ("", {"slot": pick}),
            ("/move", {"n": n, "slot": pick}),
            ("/cancel", {"n": n}),
            ("/hours", hours),
        ]:
            got, text = await post(http, url + "/consult" + path, {"csrf": csrf, **data})
            assert (got, FINISHED in text) == (409, True), (path, text)
    before = await status_of(site, case_id)
    assert before["stage"] == how and before["consults_booked"] == 1
    assert await service.member_hours(site.engine, case_id) == MemberHours()
    assert (f"member:{case_id}", "refused") in await trail(site, case_id, "consult.hours")
