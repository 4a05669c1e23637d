"""Records gathered for the member, in the browser: the member signs a release in Khmer on their
case page and names the hospital's address, the hospital is asked for the records and sends
them from the page its email links to, with no account; once the request has ended the link
answers 410."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Shots, Site
from tests.browser.test_member_portal import sign_in
from tests.polling import holds
from tests.portal.conftest import MEMBER, emailed

pytestmark = pytest.mark.browser

PROVIDER_LINK = re.compile(r"https?://\S+/portal/providers/\S+")


async def test_a_khmer_member_signs_a_release_and_the_hospital_sends_the_records_from_its_page(
    site: Site, phone: Page, shots: Shots, tmp_path: Path
) -> None:
    case_id = "BROWSER-REL"
    await site.open_case(case_id, program="prudential-kh", language="km")
    await sign_in(phone, site, case_id, shots)
    await expect(phone.locator("html")).to_have_attribute("lang", "km")
    form = phone.locator("#release-form")
    await expect(phone.locator("#release-text")).to_contain_text("សហរដ្ឋអាមេរិក")
    await form.locator("#provider").fill("Calmette Hospital")
    await form.locator("input[name=types][value=operative_report]").check()
    # A name that is not the one on the case is refused, in Khmer.
    await form.locator("#full-name").fill("Someone Else")
    await form.locator("#agree").check()
    await form.locator("button[type=submit]").click()
    await expect(phone.get_by_role("alert")).to_contain_text("ឈ្មោះពេញ")
    await phone.go_back()
    form = phone.locator("#release-form")
    await form.locator("#provider").fill("Calmette Hospital")
    await form.locator("#provider-email").fill("records@calmette.example.com")
    await form.locator("input[name=types][value=operative_report]").check()
    await form.locator("input[name=types][value=biopsy_report]").uncheck()
    await form.locator("#full-name").fill(MEMBER["patient_name"].upper())
    await form.locator("#agree").check()
    await form.locator("button[type=submit]").click()
    await expect(phone.get_by_role("status")).to_contain_text("មន្ទីរពេទ្យ")
    await expect(phone.locator("#releases li")).to_contain_text("Calmette Hospital")
    await expect(phone.locator("#requests li")).to_contain_text("Calmette Hospital")
    await shots.take(phone, "release-signed")

    async def linked() -> bool:
        return bool(emailed(site.services, case_id, PROVIDER_LINK))

    await holds(linked)
    link = emailed(site.services, case_id, PROVIDER_LINK)[-1]
    await phone.goto(link)
    await expect(phone.locator("#asked li")).to_have_text(["Operative report"])
    report = tmp_path / "operative.pdf"
    report.write_bytes(b"%PDF-1.4 synthetic operative report")
    send = phone.locator("#send")
    await send.locator("#language").fill("fr")
    await send.locator("#dated").fill("2026-11-20")
    await send.locator("#files").set_input_files(str(report))
    await send.locator("button[type=submit]").click()
    await shots.take(phone, "provider-sent")

    async def received() -> bool:
        _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
        return bool(status["gathering"]["requests"][0]["state"] == "received")

    await holds(received)
    _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
    (translation,) = status["gathering"]["translations"]
    assert translation["language"] == "fr"
    # The request has ended: its link opens nothing now.
    async with aiohttp.ClientSession() as http, http.get(link) as page:
        assert page.status == 410

    # The member sees the hospital's answer on their page, and revokes the release.
    await phone.goto(site.url + f"/portal/cases/{case_id}")
    await expect(phone.locator("#requests li")).to_contain_text("បានទទួល")
    await phone.locator("#releases form button").click()
    await expect(phone.get_by_role("status")).to_be_visible()
    _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
    assert status["gathering"]["releases"][0]["revoked_at"] is not None
