"""A member in a phone's browser: from the emailed link to uploads, a new phone number and the due date,
in English and in Khmer (the case's language). The pages are found by their structure, which is
the same in both languages; the English one is also read by its words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from models.intake import PatientIntake
from runtime.i18n import Language, month_names
from tests.browser.conftest import Shots, Site
from tests.polling import holds
from tests.portal.conftest import MEMBER

pytestmark = pytest.mark.browser


async def sign_in(page: Page, site: Site, case_id: str, shots: Shots) -> None:
    link = await site.sign_in_link(case_id)
    await page.goto(link)
    await expect(page.locator("h1")).to_be_visible()
    await shots.take(page, "sign-in")
    year, month, day = MEMBER["date_of_birth"].split("-")
    await page.locator("#date_of_birth_day").fill(day.lstrip("0"))
    await page.locator("#date_of_birth_month").select_option(month.lstrip("0"))
    await page.locator("#date_of_birth_year").fill(year)
    await page.locator("form button[type=submit]").click()
    await expect(page.locator("h1")).to_contain_text(case_id)


async def upload(page: Page, kind: str, path: Path) -> None:
    await page.locator("#record_type").select_option(kind)
    await page.locator("#file").set_input_files(str(path))
    await page.locator("form[action$='/records'] button").click()
    await expect(page.get_by_role("status")).to_be_visible()


async def records_and_phone(site: Site, page: Page, case_id: str, shots: Shots, tmp_path: Path) -> None:
    """Two uploads, then only the phone changed (the email stays as it is on file)."""
    summary, plan = tmp_path / "discharge.pdf", tmp_path / "plan.pdf"
    summary.write_bytes(b"%PDF-1.4 synthetic discharge summary")
    plan.write_bytes(b"%PDF-1.4 synthetic treatment plan")
    await upload(page, "discharge_summary", summary)
    await upload(page, "treatment_plan", plan)
    await expect(page.locator("#missing")).to_have_count(0)
    await shots.take(page, "records-uploaded")

    await expect(page.locator("#email")).to_have_value(MEMBER["email"])
    await page.locator("#phone").fill("+855 12 345 678")
    await page.locator("form[action$='/contact'] button").click()
    await expect(page.get_by_role("status")).to_be_visible()
    await expect(page.locator("#phone")).to_have_value("+855 12 345 678")
    await shots.take(page, "contact-updated")
    _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
    intake = site.services.store.load_intake(case_id, status["intake_doc_id"])
    assert isinstance(intake, PatientIntake)
    assert (intake.phone, intake.email) == ("+855 12 345 678", MEMBER["email"])
    _, trail = await site.api("GET", f"/api/v1/cases/{case_id}/audit")
    actions = {(e["actor"], e["action"]) for e in trail["events"]}
    assert {(f"member:{case_id}", "records.add"), (f"member:{case_id}", "case.update_details")} <= actions


async def under_review(site: Site, page: Page, case_id: str) -> None:
    """The desk attests the member's signed consent form and declares the records complete;
    the case finds a specialist and the clock runs."""
    await site.attest_consent(case_id)
    code, body = await site.api("POST", f"/api/v1/cases/{case_id}/records/complete", json={})
    assert code == 200, body

    async def due() -> bool:
        _, now = await site.api("GET", f"/api/v1/cases/{case_id}")
        return bool(now["sla"]["due_at"])

    await holds(due)
    await page.reload()


async def test_a_member_signs_in_from_the_email_uploads_two_records_changes_the_phone_and_sees_the_due_date(
    site: Site, phone: Page, shots: Shots, tmp_path: Path
) -> None:
    await site.open_case("BROWSER-1", program="assist-america")
    await sign_in(phone, site, "BROWSER-1", shots)
    await expect(phone.locator("html")).to_have_attribute("lang", "en")
    await expect(phone.locator("#stage")).to_have_text("We are collecting your medical records.")
    await expect(phone.locator("#missing li")).to_have_text(
        ["Hospital discharge summary", "Your doctor's treatment plan"]
    )
    await shots.take(phone, "case-gathering")
    await records_and_phone(site, phone, "BROWSER-1", shots, tmp_path)
    await expect(phone.get_by_role("status")).to_contain_text("our team has been told")

    await under_review(site, phone, "BROWSER-1")
    await expect(phone.locator("#stage")).to_have_text("A specialist is reviewing your medical records.")
    due_line = phone.locator("#due")
    await expect(due_line).to_contain_text("Your report is due")
    await expect(due_line).to_contain_text("ICT")
    # The reader's own zone, written by the browser, labelled in the page's words.
    await expect(due_line.locator(".local-time")).to_contain_text("Your time")
    await expect(due_line.locator(".local-time")).to_contain_text("America/New_York")
    await expect(due_line.locator(".local-time")).to_contain_text(
        re.compile(r"day \d+ \w+ 20\d\d, \d\d:\d\d E[SD]T")
    )
    await shots.take(phone, "case-under-review")


async def test_a_member_whose_case_is_in_khmer_reads_it_in_khmer_with_a_khmer_month_in_the_due_date(
    site: Site, phone: Page, shots: Shots, tmp_path: Path
) -> None:
    await site.open_case("BROWSER-KM", program="assist-america", language="km")
    await sign_in(phone, site, "BROWSER-KM", shots)
    await expect(phone.locator("html")).to_have_attribute("lang", "km")
    await expect(phone.locator("#missing li")).to_have_count(2)
    await shots.take(phone, "case-gathering")
    await records_and_phone(site, phone, "BROWSER-KM", shots, tmp_path)

    await under_review(site, phone, "BROWSER-KM")
    await expect(phone.locator("html")).to_have_attribute("lang", "km")
    ict = await phone.locator("#due time").inner_text()
    assert "ICT" in ict and any(month in ict for month in month_names(Language.KM)), ict
    local = await phone.locator("#due .local-time").inner_text()
    # The reader's own time, written in Khmer as the page writes the ICT one.
    assert "America/New_York" in local and any(month in local for month in month_names(Language.KM)), local
    await shots.take(phone, "case-under-review")
