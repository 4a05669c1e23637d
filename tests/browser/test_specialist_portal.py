"""A specialist works from the records email's assignment link; the member downloads the report."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Shots, Site
from tests.browser.test_member_portal import sign_in
from tests.portal.conftest import MEMBER

pytestmark = pytest.mark.browser


async def test_a_specialist_uploads_the_report_from_the_assignment_link_and_the_member_downloads_it(
    site: Site, browser: Browser, phone: Page, shots: Shots, tmp_path: Path
) -> None:
    await site.ready_for_review("REVIEW-1")
    link = await site.assignment_link("REVIEW-1")
    # A browser in Phnom Penh that prefers Khmer: the specialist's page stays English, in Texas time.
    texas = await browser.new_context(locale="km-KH", timezone_id="Asia/Phnom_Penh")
    desk = await texas.new_page()
    await desk.goto(link)
    await expect(desk.get_by_role("heading", name="Case REVIEW-1, assignment 1")).to_be_visible()
    await expect(desk.locator("html")).to_have_attribute("lang", "en")
    await expect(desk.locator("nav.languages")).to_have_count(0)
    await expect(desk.locator("#diagnosis")).to_have_text(MEMBER["diagnosis_text"])
    await expect(desk.locator("#icd10")).to_have_text(MEMBER["icd10"])
    await expect(desk.locator("#age")).to_have_text(re.compile(r"^\d+ years$"))
    await expect(desk.locator("#sex")).to_have_text("not given")
    await expect(desk.get_by_text(MEMBER["patient_name"])).to_have_count(0)
    _, status = await site.api("GET", "/api/v1/cases/REVIEW-1")
    due = datetime.fromisoformat(status["sla"]["due_at"]).astimezone(ZoneInfo("America/Chicago"))
    await expect(desk.locator("#due-at")).to_contain_text(f"{due:%H:%M} {due.tzname()}")
    await expect(desk.locator("#due-at")).to_contain_text("ICT at the desk")
    async with desk.expect_download() as plan:
        await desk.get_by_role("link", name="Treatment plan 1").click()
    assert (await (await plan.value).path()).read_bytes() == b"synthetic treatment_plan"
    await expect(desk.get_by_role("link", name=re.compile("Discharge summary"))).to_be_visible()
    await shots.take(desk, "assignment")
    async with desk.expect_download() as record:
        await desk.get_by_role("link", name=re.compile("Discharge summary")).click()
    assert (await (await record.value).path()).read_bytes() == b"synthetic discharge_summary"

    report = tmp_path / "opinion.pdf"
    report.write_bytes(b"%PDF-1.4 synthetic second opinion")
    await desk.get_by_label("The written report").set_input_files(str(report))
    await desk.get_by_role("button", name="Upload the report").click()
    await expect(desk.get_by_role("alert")).to_have_text("Thank you: the report is with the case.")
    await shots.take(desk, "report-received")

    # The case moves to REPORT_DELIVERED on its own once the upload has answered.
    await site.stage("REVIEW-1", "REPORT_DELIVERED", "CONSULT")
    await sign_in(phone, site, "REVIEW-1", shots)
    await expect(phone.locator("#stage")).to_contain_text(re.compile("report is ready"))
    await shots.take(phone, "report-ready")
    async with phone.expect_download() as download:
        await phone.get_by_role("link", name="Download report 1").click()
    assert (await (await download.value).path()).read_bytes() == report.read_bytes()

    # The report is in: the page says so and offers no more forms.
    await desk.goto(link)
    await expect(desk.locator("#report-in")).to_be_visible()
    await expect(desk.get_by_role("button", name="Decline")).to_have_count(0)
    await shots.take(desk, "assignment-after-report")
    _, status = await site.api("GET", "/api/v1/cases/REVIEW-1")
    assert status["stage"] in ("REPORT_DELIVERED", "CONSULT")
