"""A signed-in member's own changes on the real service: contact details one field at a time,
the case's language, and refusals said in plain words with a way back.

And what an attacker tries there: a POST without the CSRF token, the language switch of
another member's case.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import aiohttp

from models.intake import PatientIntake
from runtime.i18n import ICT
from tests.portal.conftest import MEMBER, Site
from tests.portal.test_portal_sign_in import jar, sign_in
from tests.portal.test_portal_uploads import signed_in

LANG = re.compile(r'<html lang="([a-z]+)">')


async def intake_of(site: Site, case_id: str) -> PatientIntake:
    _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
    return site.services.store.load_intake(case_id, status["intake_doc_id"])


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as resp:
        return resp.status, await resp.text()


async def test_the_contact_form_shows_what_is_on_file_and_the_phone_changes_alone(site: Site) -> None:
    http, csrf = await signed_in(site, "CONTACT-1")
    page = site.url + "/portal/cases/CONTACT-1"
    async with http:
        _, html = await get(http, page)
        assert (
            f'value="{MEMBER["email"]}"' in html
            and 'name="phone" type="tel" autocomplete="tel" value=""' in html
        )
        # Only the phone: the email field left empty keeps the address on file.
        resp = await http.post(page + "/contact", data={"csrf": csrf, "email": "", "phone": "012 345 678"})
        assert resp.status == 200 and "contact details are updated" in await resp.text()
        assert (
            'value="012 345 678"' in await resp.text() and f'value="{MEMBER["email"]}"' in await resp.text()
        )
        intake = await intake_of(site, "CONTACT-1")
        assert (intake.email, intake.phone) == (MEMBER["email"], "012 345 678")
        # The same details again change nothing, and say so.
        same = {"csrf": csrf, "email": MEMBER["email"], "phone": "012 345 678"}
        resp = await http.post(page + "/contact", data=same)
        assert "Nothing was changed" in await resp.text()
        # The phone rule of every edge, said in plain words (never a pattern).
        resp = await http.post(page + "/contact", data={"csrf": csrf, "phone": "012 345 678 ext 5"})
        text = await resp.text()
        assert resp.status == 422 and "phone number with digits" in text
        assert not re.search(r"\[0-9|\^|\\d|pattern", text)
        assert 'id="back" href="/portal/cases/CONTACT-1"' in text
    assert (await intake_of(site, "CONTACT-1")).phone == "012 345 678"
    _, trail = await site.api("GET", "/api/v1/cases/CONTACT-1/audit")
    changes = [e for e in trail["events"] if e["action"] == "case.update_details"]
    assert [(e["actor"], e["outcome"]) for e in changes] == [("member:CONTACT-1", "accepted")]


async def test_the_language_switch_changes_the_case_and_every_page_follows_it(site: Site) -> None:
    http, csrf = await signed_in(site, "LANG-1")
    page = site.url + "/portal/cases/LANG-1"
    async with http:
        _, html = await get(http, page)
        assert LANG.findall(html) == ["en"]
        assert 'action="/portal/cases/LANG-1/language"' in html
        resp = await http.post(
            page + "/language", data={"csrf": csrf, "language": "km"}, allow_redirects=False
        )
        assert resp.status == 303 and "smo_lang=km" in resp.headers["Set-Cookie"]
        # The browser asks for English: the case's language wins.
        async with http.get(page, headers={"Accept-Language": "en"}) as got:
            assert LANG.findall(await got.text()) == ["km"]
        # A refusal on the member's page is in the case's language too.
        async with http.post(page + "/contact", data={"phone": "1"}) as refused:
            assert refused.status == 403 and LANG.findall(await refused.text()) == ["km"]
    assert (await intake_of(site, "LANG-1")).language == "km"
    _, trail = await site.api("GET", "/api/v1/cases/LANG-1/audit")
    assert ("member:LANG-1", "case.language", "accepted") in {
        (e["actor"], e["action"], e["outcome"]) for e in trail["events"]
    }


async def test_a_khmer_case_opens_in_khmer_at_the_first_sign_in(site: Site) -> None:
    http, _ = await signed_in(site, "LANG-2", language="km")
    async with http:
        _, html = await get(http, site.url + "/portal/cases/LANG-2")
    assert LANG.findall(html) == ["km"]


async def test_another_cases_language_switch_answers_404_and_changes_nothing(site: Site) -> None:
    await site.open_case("LANG-4", patient_name="Other Member", email="other@example.com")
    http, csrf = await signed_in(site, "LANG-3")
    async with http:
        other = site.url + "/portal/cases/LANG-4/language"
        resp = await http.post(other, data={"csrf": csrf, "language": "km"}, allow_redirects=False)
        assert resp.status == 404
        own = site.url + "/portal/cases/LANG-3/language"
        resp = await http.post(own, data={"language": "km"}, allow_redirects=False)
        assert resp.status == 403  # no CSRF token
        resp = await http.post(own, data={"csrf": csrf, "language": "fr"}, allow_redirects=False)
        assert resp.status == 422
    assert (await intake_of(site, "LANG-4")).language == "en"
    assert (await intake_of(site, "LANG-3")).language == "en"


async def test_refusals_are_plain_words_with_a_way_back(site: Site) -> None:
    # prudential-kh takes no documents once the review has started.
    await site.ready_for_review("PLAIN-1", "prudential-kh")
    await site.stage("PLAIN-1", "UNDER_REVIEW")
    async with jar() as http:
        assert (await sign_in(http, await site.sign_in_link("PLAIN-1"))).status == 303
        page = site.url + "/portal/cases/PLAIN-1"
        _, html = await get(http, page)
        assert 'id="due"' in html and "/records" not in html  # no upload form it would refuse
        csrf = re.findall(r'name="csrf" value="([0-9a-f]{64})"', html)[0]
        form = aiohttp.FormData()
        form.add_field("csrf", csrf)
        form.add_field("record_type", "lab_result")
        form.add_field("file", b"synthetic", filename="late.pdf")
        async with http.post(page + "/records", data=form) as refused:
            text = await refused.text()
            assert refused.status == 409 and "does not take documents now" in text
        slot = (datetime.now(ICT) + timedelta(days=3)).replace(hour=9, minute=30, second=0, microsecond=0)
        booking = {"csrf": csrf, "slot": slot.isoformat()}
        async with http.post(page + "/consult", data=booking) as early:
            early_text = await early.text()
            assert early.status == 409 and "once your report is ready" in early_text
    for shown in (text, early_text):
        assert "UNDER_REVIEW" not in shown and "stage" not in shown
        assert 'id="back" href="/portal/cases/PLAIN-1"' in shown
    _, trail = await site.api("GET", "/api/v1/cases/PLAIN-1/audit")
    refused_actions = {e["action"] for e in trail["events"] if e["outcome"] == "refused"}
    assert {"records.add", "consult.book"} <= refused_actions


async def test_signed_out_the_error_page_leads_to_a_new_sign_in_link_and_the_desk(site: Site) -> None:
    await site.open_case("BACK-1")
    async with jar() as http:
        code, html = await get(http, site.url + "/portal/cases/BACK-1")
    assert code == 401
    assert 'id="back" href="/portal/new-link"' in html
    assert site.services.settings.desk_email in html and site.services.settings.desk_phone in html
