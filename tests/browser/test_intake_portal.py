"""An Assist America member requests an opinion through the form, confirms it from the email, consents,
and the case reaches a specialist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Shots, Site
from tests.browser.test_member_portal import sign_in, upload
from tests.polling import holds
from tests.portal.test_portal_intake import confirmation

pytestmark = pytest.mark.browser


async def test_an_assist_america_member_requests_an_opinion_gives_consent_and_the_case_reaches_a_specialist(
    site: Site, phone: Page, shots: Shots, tmp_path: Path
) -> None:
    summary, plan, scan = tmp_path / "discharge.pdf", tmp_path / "plan.pdf", tmp_path / "scan..v2.pdf"
    summary.write_bytes(b"%PDF-1.4 synthetic discharge summary")
    plan.write_bytes(b"%PDF-1.4 synthetic treatment plan")
    scan.write_bytes(b"%PDF-1.4 synthetic scan")

    await phone.goto(site.url + "/portal/request/assist-america")
    await shots.take(phone, "request-form")
    await expect(phone.locator("#needed li")).to_have_text(
        ["Hospital discharge summary", "Your doctor's treatment plan"]
    )
    await phone.get_by_label("Policy number").fill("AA-DEMO-0001")
    await phone.get_by_label("Full name of the patient").fill("Test Member")
    await phone.get_by_label("Day").fill("1")
    await phone.get_by_label("Month").select_option(label="January")
    await phone.get_by_label("Year").fill("1980")
    await phone.get_by_label("Sex (you may leave this empty)").select_option("female")
    await phone.get_by_label("Email", exact=True).fill("member@example.com")
    await phone.get_by_label("Diagnosis, in your words").fill("synthetic diagnosis")
    await phone.get_by_label("ICD-10 code, if you know it").fill("C50.912")
    # The first row is for the discharge summary the program needs; another row for a scan.
    await phone.locator("#file_1").set_input_files(str(summary))
    await phone.locator("#record_type_3").select_option("imaging")
    await phone.locator("#file_3").set_input_files(str(scan))
    await phone.get_by_role("button", name="Send my request").click()
    await expect(phone.locator("#sent")).to_contain_text("Open the link in it and press the button")
    await shots.take(phone, "request-sent")
    emailed_case, link = await confirmation(site)
    await phone.goto(link)
    await shots.take(phone, "request-confirm")
    await phone.get_by_role("button", name="Confirm my request").click()
    await expect(phone.locator("#answer")).to_contain_text("Your cover includes a second medical opinion")
    await shots.take(phone, "request-answer")
    heading = await phone.get_by_role("heading", level=1).text_content()
    case_id = (heading or "").removeprefix("Your request ").strip()
    assert re.fullmatch(r"SMO-\d{6}-[0-9A-F]{10}", case_id) and case_id == emailed_case, heading
    _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
    assert status["records"]["received"] == {"discharge_summary": 1, "imaging": 1}

    await sign_in(phone, site, case_id, shots)
    await expect(phone.locator("#missing li")).to_have_text(["Your doctor's treatment plan"])
    await upload(phone, "treatment_plan", plan)
    code, body = await site.api("POST", f"/api/v1/cases/{case_id}/records/complete", json={})
    assert code == 200, body

    async def waiting() -> bool:
        _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
        return bool(status["consent"]["waiting"])

    await holds(waiting)
    _, held = await site.api("GET", f"/api/v1/cases/{case_id}")
    assert held["specialist_id"] is None  # no record has gone anywhere yet
    await phone.goto(site.url + f"/portal/cases/{case_id}")
    await expect(phone.locator("#consent-waiting")).to_be_visible()
    await shots.take(phone, "consent-asked")
    await phone.get_by_role("button", name="I agree").click()
    await expect(phone.locator("#consent-given")).to_contain_text("You agreed on")
    await shots.take(phone, "consent-given")

    link = await site.assignment_link(case_id)  # the records went to a specialist
    _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
    assert status["stage"] == "UNDER_REVIEW" and status["specialist_id"]
    assert status["consent"]["method"] == "portal" and status["consent"]["by"] == f"member:{case_id}"
    await phone.reload()
    await expect(phone.locator("#stage")).to_have_text("A specialist is reviewing your medical records.")
    await shots.take(phone, "under-review")
    assert "/portal/assignments/" in link


async def test_a_member_reads_the_request_form_in_khmer(site: Site, phone: Page, shots: Shots) -> None:
    await phone.goto(site.url + "/portal/request/assist-america")
    await phone.locator("nav.languages a[hreflang=km]").click()
    await expect(phone.locator("html")).to_have_attribute("lang", "km")
    # The member's language is the page's unless they choose another; months have Khmer names.
    await expect(phone.locator("#language")).to_have_value("km")
    await expect(phone.locator("#date_of_birth_month option[value='1']")).to_have_text("មករា")
    await shots.take(phone, "request-form-km")
