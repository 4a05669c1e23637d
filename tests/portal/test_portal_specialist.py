"""The assignment link: bound to its case and assignment, dead after reassignment, and its actions."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from runtime.i18n import ICT
from tests.polling import holds
from tests.portal.conftest import MEMBER, Site
from tests.portal.test_portal_sign_in import jar, sign_in

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


async def csrf_of(http: aiohttp.ClientSession, link: str) -> str:
    async with http.get(link) as resp:
        assert resp.status == 200, await resp.text()
        match = CSRF.search(await resp.text())
    assert match
    return match.group(1)


async def test_a_tampered_or_borrowed_assignment_link_is_404(site: Site) -> None:
    await site.ready_for_review("DESK-1")
    link = await site.assignment_link("DESK-1")
    *head, exp, sig = link.split("/")
    flipped = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    async with aiohttp.ClientSession() as http:
        async with http.get("/".join([*head, exp, flipped])) as resp:
            assert resp.status == 404
        async with http.get("/".join([*head, str(int(exp) + 1), sig])) as resp:
            assert resp.status == 404  # a later expiry is a different signature
        other = link.replace("/DESK-1/", "/DESK-2/")
        async with http.get(other) as resp:
            assert resp.status == 404
        # A POST without the page's CSRF token is refused.
        resp = await http.post(link + "/decline", data={"reason": "conflict of interest"})
        assert resp.status == 403


async def test_asking_for_more_stops_the_clock_and_a_decline_kills_the_link(site: Site) -> None:
    await site.ready_for_review("DESK-3")
    link = await site.assignment_link("DESK-3")
    async with aiohttp.ClientSession() as http:
        csrf = await csrf_of(http, link)
        resp = await http.post(link + "/info", data={"csrf": csrf, "reason": "clarification"})
        assert resp.status == 200 and "clock is stopped" in await resp.text()
        _, status = await site.api("GET", "/api/v1/cases/DESK-3")
        assert status["sla"]["state"] == "PAUSED"
        supply = aiohttp.FormData()
        supply.add_field("file", b"synthetic answer", filename="answer.pdf")
        code, body = await site.api("POST", "/api/v1/cases/DESK-3/info/supply", data=supply)
        assert code == 200, body
        resp = await http.post(link + "/decline", data={"csrf": csrf, "reason": "conflict of interest"})
        assert resp.status == 200 and "another specialist" in await resp.text()

        async def reassigned() -> bool:
            async with http.get(link) as again:
                return again.status == 410

        await holds(reassigned)
    _, trail = await site.api("GET", "/api/v1/cases/DESK-3/audit")
    actors = {(e["actor"].split(":")[0], e["action"]) for e in trail["events"]}
    assert {("specialist", "info.request"), ("specialist", "specialist.decline")} <= actors


async def test_after_the_report_the_member_books_the_telephone_consult_in_ict(site: Site) -> None:
    await site.ready_for_review("CONSULT-1")
    link = await site.assignment_link("CONSULT-1")
    async with aiohttp.ClientSession() as desk:
        form = aiohttp.FormData()
        form.add_field("csrf", await csrf_of(desk, link))
        form.add_field("file", b"%PDF-1.4 synthetic opinion", filename="opinion.pdf")
        resp = await desk.post(link + "/report", data=form)
        assert resp.status == 200, await resp.text()
    # The member books once the report has reached them (the case moves on its own after the
    # specialist's upload has answered).
    await site.stage("CONSULT-1", "REPORT_DELIVERED", "CONSULT")
    async with jar() as http:
        assert (await sign_in(http, await site.sign_in_link("CONSULT-1"))).status == 303
        page = site.url + "/portal/cases/CONSULT-1"
        csrf = await csrf_of(http, page)
        # A slot the slot rule proposes (tests/portal/test_portal_consult_slots.py: one it refuses).
        _, found = await site.api("GET", "/api/v1/cases/CONSULT-1/consults/slots")
        slot = datetime.fromisoformat(found["slots"][0]["start"]).astimezone(ICT)
        resp = await http.post(page + "/consult", data={"csrf": csrf, "slot": slot.isoformat()})
        assert resp.status == 200 and "consultation is booked" in await resp.text(), await resp.text()
    _, status = await site.api("GET", "/api/v1/cases/CONSULT-1")
    assert status["consults_booked"] == 1 and status["consult_pending"]
    _, trail = await site.api("GET", "/api/v1/cases/CONSULT-1/audit")
    assert ("member:CONSULT-1", "consult.book", "accepted") in {
        (e["actor"], e["action"], e["outcome"]) for e in trail["events"]
    }


async def test_the_page_shows_the_case_in_english_and_the_due_date_in_the_specialists_zone(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    await site.ready_for_review("SHEET-1")
    link = await site.assignment_link("SHEET-1")
    _, status = await site.api("GET", "/api/v1/cases/SHEET-1")
    # The roster's specialists are in Texas: the tz database says CDT or CST for that instant.
    due = datetime.fromisoformat(status["sla"]["due_at"]).astimezone(ZoneInfo("America/Chicago"))
    today = datetime.now(ZoneInfo("America/Chicago")).date()
    khmer_browser = {"Accept-Language": "km-KH,km;q=0.9"}
    async with aiohttp.ClientSession(headers=khmer_browser) as http:
        async with http.get(link + "?lang=km") as resp:
            assert resp.status == 200
            html = await resp.text()
        assert '<html lang="en">' in html and 'class="languages"' not in html
        assert f'<dd id="diagnosis">{MEMBER["diagnosis_text"]}</dd>' in html
        assert f'<dd id="icd10">{MEMBER["icd10"]}</dd>' in html
        assert f'<dd id="age">{today.year - 1980} years</dd>' in html  # born 1 January 1980
        assert '<dd id="sex">not given</dd>' in html
        assert f"{due:%H:%M} {due.tzname()}</strong>" in html and "ICT at the desk" in html
        assert MEMBER["patient_name"] not in html
        # The treating doctor's plan is a document, downloaded as the other records are.
        plan = re.search(r'href="([^"]+)" download>Treatment plan 1<', html)
        assert plan, html
        async with http.get(site.url + plan.group(1)) as resp:
            assert resp.status == 200 and await resp.read() == b"synthetic treatment_plan"

        # A program whose specialists must name the patient shows the name.
        program = site.services.programs["assist-america"]
        named = program.model_copy(update={"specialist_sees_name": True})
        monkeypatch.setitem(site.services.programs, "assist-america", named)
        async with http.get(link) as resp:
            assert f'<dd id="patient">{MEMBER["patient_name"]}</dd>' in await resp.text()
    # The sheet stays on the server: the trail and the link name no part of it.
    _, trail = await site.api("GET", "/api/v1/cases/SHEET-1/audit")
    assert MEMBER["patient_name"] not in str(trail) and MEMBER["diagnosis_text"] not in str(trail)
    assert MEMBER["patient_name"] not in link
