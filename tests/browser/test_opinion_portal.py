"""The opinion in two forms in the browser: the member's questions on the specialist's page, the
specialist's summary, answers and outcome sent with the report, the member (in Khmer) reading
them and asking a follow-up question, the specialist answering it from the same page, and the
translator's Khmer reaching the member's page beside the English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Shots, Site
from tests.browser.test_member_portal import sign_in
from tests.polling import eventually
from tests.portal.conftest import emailed

pytestmark = pytest.mark.browser

QUESTIONS = ["Is surgery needed now?", "Can I keep working?"]
TRANSLATOR_LINK = re.compile(r"https?://\S+/portal/opinion-translations/\S+")
KHMER_SUMMARY = "រោគវិនិច្ឆ័យត្រឹមត្រូវ ការព្យាបាលស្រាលជាងនេះសមស្របនឹងអ្នកជាង។"


async def test_the_specialist_answers_each_question_and_a_follow_up_and_the_khmer_member_reads_them(
    site: Site, browser: Browser, phone: Page, shots: Shots, tmp_path: Path
) -> None:
    await site.ready_for_review("OPINION-1", language="km", questions=QUESTIONS)
    link = await site.assignment_link("OPINION-1")
    desk = await (await browser.new_context()).new_page()
    await desk.goto(link)
    await expect(desk.locator("#questions li")).to_have_text(QUESTIONS)
    form = desk.locator("#report-form")
    await form.locator("#summary").fill("The diagnosis is right; a gentler treatment suits you better.")
    await form.locator("#answer-1").fill("Not now: after the first course of treatment.")
    await form.locator("#answer-2").fill("Yes, part time.")
    await form.locator("#outcome-diagnosis").select_option("confirmed")
    await form.locator("#outcome-treatment").select_option("changed")
    report = tmp_path / "opinion.pdf"
    report.write_bytes(b"%PDF-1.4 synthetic second opinion")
    await form.locator("#report-file").set_input_files(str(report))
    await form.get_by_role("button", name="Upload the report").click()
    await expect(desk.get_by_role("alert")).to_have_text("Thank you: the report is with the case.")
    await site.stage("OPINION-1", "REPORT_DELIVERED", "CONSULT")
    _, status = await site.api("GET", "/api/v1/cases/OPINION-1")
    assert status["opinion"]["outcome"] == {
        "diagnosis": "confirmed",
        "treatment": "changed",
        "surgery_avoided": False,
    }

    await sign_in(phone, site, "OPINION-1", shots)
    await expect(phone.locator("html")).to_have_attribute("lang", "km")
    await expect(phone.locator("#translation-due")).to_be_visible()  # the Khmer follows by a date
    await expect(phone.locator("#summary")).to_contain_text("gentler treatment")
    await expect(phone.locator("#answers li")).to_have_text(
        ["Not now: after the first course of treatment.", "Yes, part time."]
    )
    await phone.locator("#follow-up-text").fill("Can I travel during the treatment?")
    await phone.locator("#follow-up-form button").click()
    await expect(phone.get_by_role("status")).to_contain_text("វេជ្ជបណ្ឌិតឯកទេស")
    await shots.take(phone, "follow-up-asked")

    await desk.goto(link)
    await expect(desk.locator("#follow-ups .question")).to_have_text(["Can I travel during the treatment?"])
    await desk.locator("#follow-up-1").fill("Yes, between two courses.")
    await desk.get_by_role("button", name="Send the answer").click()
    await expect(desk.get_by_role("status")).to_contain_text("the member is told")
    await phone.reload()
    await expect(phone.locator("#follow-ups .answer")).to_have_text(["Yes, between two courses."])

    # The translator's page, from their email: the English, and the Khmer written under it.
    async def links() -> list[str]:
        return emailed(site.services, "OPINION-1", TRANSLATOR_LINK)

    found = await eventually(links, bool, what=lambda _: "no translator link emailed")
    translator = await (await browser.new_context()).new_page()
    await translator.goto(site.url + found[-1][found[-1].index("/portal/") :])
    await expect(translator.locator("#summary")).to_contain_text("gentler treatment")
    await translator.locator("#summary-translation").fill(KHMER_SUMMARY)
    await translator.locator("#answer-1").fill("មិនមែនឥឡូវទេ៖ បន្ទាប់ពីវគ្គព្យាបាលដំបូង។")
    await translator.locator("#answer-2").fill("បាទ/ចាស ក្រៅម៉ោង។")
    await translator.get_by_role("button", name="Send the translation").click()
    await expect(translator.get_by_role("alert")).to_have_text("The translation is with the case.")
    await phone.reload()
    await expect(phone.locator("#summary-translated")).to_have_text(KHMER_SUMMARY)
    await expect(phone.locator("#answers-translated li")).to_have_count(2)
    await expect(phone.locator("#summary")).to_contain_text("gentler treatment")  # the English stays
    await shots.take(phone, "opinion-in-khmer")
