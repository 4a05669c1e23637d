"""The member books their consult through the case service's slot rule and hold, as the API does:
a Sunday 03:00 slot is refused in plain words in the member's language, a proposed one is
booked and held."""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from calendars import consult_slots as cs
from runtime import consult_holds
from runtime.i18n import ICT
from tests.portal.conftest import Site
from tests.portal.test_portal_sign_in import jar, sign_in
from tests.portal.test_portal_specialist import csrf_of

KM_SPECIALIST_HOURS = "ក្រៅម៉ោងធ្វើការរបស់គ្រូពេទ្យជំនាញ"


async def delivered(site: Site, case_id: str, **member: Any) -> None:
    """A case through its records and the specialist's report, to the member."""
    await site.ready_for_review(case_id, **member)
    link = await site.assignment_link(case_id)
    async with aiohttp.ClientSession() as desk:
        form = aiohttp.FormData()
        form.add_field("csrf", await csrf_of(desk, link))
        form.add_field("file", b"%PDF-1.4 synthetic opinion", filename="opinion.pdf")
        resp = await desk.post(link + "/report", data=form)
        assert resp.status == 200, await resp.text()
    await site.stage(case_id, "REPORT_DELIVERED", "CONSULT")


def next_sunday_3am() -> datetime:
    """Outside every specialist's hours (Saturday afternoon in Texas), and the member's."""
    day = datetime.now(ICT).date() + timedelta(days=4)
    while day.weekday() != 6:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 3, 0, tzinfo=ICT)


def booking(csrf: str, at: datetime) -> dict[str, str]:
    """The page's form: the chosen slot's start with its UTC offset (a radio button's value)."""
    return {"csrf": csrf, "slot": at.astimezone(ICT).isoformat()}


async def test_a_sunday_3am_booking_is_refused_in_plain_words_and_a_proposed_slot_is_booked_and_held(
    site: Site,
) -> None:
    await delivered(site, "PSLOT-1")
    async with jar() as http:
        assert (await sign_in(http, await site.sign_in_link("PSLOT-1"))).status == 303
        page = site.url + "/portal/cases/PSLOT-1"
        csrf = await csrf_of(http, page)
        async with http.post(page + "/consult", data=booking(csrf, next_sunday_3am())) as refused:
            text = html.unescape(await refused.text())
            assert refused.status == 422, text
        assert f"This time cannot be booked: {cs.SPECIALIST_HOURS}. Please choose another" in text
        assert 'id="back" href="/portal/cases/PSLOT-1"' in text
        _, found = await site.api("GET", "/api/v1/cases/PSLOT-1/consults/slots")
        start = datetime.fromisoformat(found["slots"][0]["start"])
        async with http.post(page + "/consult", data=booking(csrf, start)) as booked:
            assert booked.status == 200 and "consultation is booked" in await booked.text()
    _, status = await site.api("GET", "/api/v1/cases/PSLOT-1")
    assert status["consult_pending"] and datetime.fromisoformat(status["consult_at"]) == start
    held = consult_holds.others_booked(site.engine, found["specialist_id"], "another case")
    assert start in held  # held in the case DB: no other case is offered or given it
    _, trail = await site.api("GET", "/api/v1/cases/PSLOT-1/audit")
    outcomes = [
        (e["actor"], e["outcome"], e["detail"]) for e in trail["events"] if e["action"] == "consult.book"
    ]
    assert outcomes[0][:2] == ("member:PSLOT-1", "refused") and cs.SPECIALIST_HOURS in outcomes[0][2]
    assert ("member:PSLOT-1", "accepted") in {o[:2] for o in outcomes}


async def test_a_khmer_members_refusal_is_all_in_khmer(site: Site) -> None:
    await delivered(site, "PSLOT-KM", language="km")
    async with jar() as http:
        assert (await sign_in(http, await site.sign_in_link("PSLOT-KM"))).status == 303
        page = site.url + "/portal/cases/PSLOT-KM"
        csrf = await csrf_of(http, page)
        async with http.post(page + "/consult", data=booking(csrf, next_sunday_3am())) as refused:
            text = html.unescape(await refused.text())
            assert refused.status == 422, text
    assert '<html lang="km">' in text and KM_SPECIALIST_HOURS in text
    assert cs.SPECIALIST_HOURS not in text and "cannot be booked" not in text
    _, status = await site.api("GET", "/api/v1/cases/PSLOT-KM")
    assert status["consults_booked"] == 0 and not status["consult_pending"]
