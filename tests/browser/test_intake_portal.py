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
    summary, plan = tmp_path / "discharge.pdf", tmp_path / "plan.pdf"
    summary.write_bytes(b"%PDF-1.4 synthetic discharge summary")
    plan.write_bytes(b"%PDF-1.4 synthetic treatment plan")

    await phone.goto(site.url + "/portal/request/assist-america")
    await shots.take(phone, "request-form")
    await phone.get_by_label("Policy number").fill("AA-DEMO-0001")
    await phone.get_by_label("Full name of the patient").fill("Test Member")
    await phone.get_by_label("Date of birth").fill("1980-01-01")
    await phone.get_by_label("Email").fill("member@example.com")
    await phone.get_by_label("Diagnosis, in your words").fill("synthetic diagnosis")
    await phone.get_by_label("ICD-10 code, if you know it").fill("C50.912")
    await phone.get_by_label("What kind of documents").select_option("discharge_summary")
    await phone.get_by_label(re.compile("^Documents")).set_input_files(str(summary))
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

    await sign_in(phone, site, case_id, shots)
    await expect(phone.locator("#missing")).to_have_text("treatment plan")
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
