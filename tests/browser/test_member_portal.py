"""A member in a phone's browser: from the emailed link to uploads, a new phone number and the due date."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from models.intake import PatientIntake
from tests.browser.conftest import Shots, Site
from tests.polling import holds
from tests.portal.conftest import MEMBER

pytestmark = pytest.mark.browser


async def sign_in(page: Page, site: Site, case_id: str, shots: Shots) -> None:
    link = await site.sign_in_link(case_id)
    await page.goto(link)
    await expect(page.get_by_role("heading", name="Sign in to your case")).to_be_visible()
    await shots.take(page, "sign-in")
    await page.get_by_label("Date of birth").fill(MEMBER["date_of_birth"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name=f"Your case {case_id}")).to_be_visible()


async def upload(page: Page, kind: str, path: Path) -> None:
    await page.get_by_label("What kind of document").select_option(kind)
    await page.get_by_label("Files (any size)").set_input_files(str(path))
    await page.get_by_role("button", name="Upload").click()
    await expect(page.get_by_role("status")).to_have_text("Thank you: your documents are with us.")


async def test_a_member_signs_in_from_the_email_uploads_two_records_changes_the_phone_and_sees_the_due_date(
    site: Site, phone: Page, shots: Shots, tmp_path: Path
) -> None:
    await site.open_case("BROWSER-1", program="assist-america")
    await sign_in(phone, site, "BROWSER-1", shots)
    await expect(phone.locator("#stage")).to_have_text("We are collecting your medical records.")
    await expect(phone.locator("#missing")).to_have_text("discharge summary, treatment plan")
    await shots.take(phone, "case-gathering")

    summary, plan = tmp_path / "discharge.pdf", tmp_path / "plan.pdf"
    summary.write_bytes(b"%PDF-1.4 synthetic discharge summary")
    plan.write_bytes(b"%PDF-1.4 synthetic treatment plan")
    await upload(phone, "discharge_summary", summary)
    await upload(phone, "treatment_plan", plan)
    await expect(phone.locator("#missing")).to_have_count(0)
    await shots.take(phone, "records-uploaded")

    await phone.get_by_label("Email").fill(MEMBER["email"])
    await phone.get_by_label("Phone").fill("+855 12 345 678")
    await phone.get_by_role("button", name="Save my contact details").click()
    await expect(phone.get_by_role("status")).to_contain_text("our team has been told")
    await shots.take(phone, "contact-updated")
    _, status = await site.api("GET", "/api/v1/cases/BROWSER-1")
    intake = site.services.store.load_intake(status["intake_doc_id"])
    assert isinstance(intake, PatientIntake) and intake.phone == "+855 12 345 678"
    _, trail = await site.api("GET", "/api/v1/cases/BROWSER-1/audit")
    actions = {(e["actor"], e["action"]) for e in trail["events"]}
    assert {("member:BROWSER-1", "records.add"), ("member:BROWSER-1", "case.update_details")} <= actions

    # The desk attests the member's signed consent form and declares the records complete;
    # the case finds a specialist and the clock runs.
    await site.attest_consent("BROWSER-1")
    code, body = await site.api("POST", "/api/v1/cases/BROWSER-1/records/complete", json={})
    assert code == 200, body

    async def due() -> bool:
        _, now = await site.api("GET", "/api/v1/cases/BROWSER-1")
        return bool(now["sla"]["due_at"])

    await holds(due)
    await phone.reload()
    await expect(phone.locator("#stage")).to_have_text("A specialist is reviewing your medical records.")
    due_line = phone.locator("#due")
    await expect(due_line).to_contain_text("ICT")
    await expect(due_line).to_contain_text("America/New_York")  # the reader's own zone, in the browser
    await shots.take(phone, "case-under-review")
