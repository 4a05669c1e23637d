"""A member whose case is in Khmer picks a telephone consult slot in a phone's browser, and reads the
booked time on their page in Khmer: the weekday and the month by their Khmer names, on the
member's clock (ICT), with their browser's own time beside it."""

from __future__ import annotations

from datetime import datetime

import pytest
from playwright.async_api import Page, expect

from runtime import i18n
from runtime.i18n import ICT, Language, month_names
from tests.browser.conftest import Shots, Site
from tests.browser.test_member_portal import sign_in
from tests.portal.test_portal_consult_slots import delivered

pytestmark = pytest.mark.browser

KHMER_MONTHS = month_names(Language.KM)


async def test_a_khmer_member_picks_a_consult_slot_and_reads_the_booked_time_in_khmer(
    site: Site, phone: Page, shots: Shots
) -> None:
    await delivered(site, "BROWSER-CONSULT", language="km")
    await sign_in(phone, site, "BROWSER-CONSULT", shots)
    await expect(phone.locator("html")).to_have_attribute("lang", "km")

    slots = phone.locator("#book input[name=slot]")
    await expect(slots.first).to_be_visible()
    # Each day of the picker is headed in Khmer; each time is on the member's clock (ICT).
    first_day = await phone.locator("#book fieldset.slot-day > legend").first.inner_text()
    assert any(month in first_day for month in KHMER_MONTHS), first_day
    await expect(phone.locator("#book label.slot").first).to_contain_text("ICT")
    # One from the middle: the first may fall inside the notice while the test runs.
    pick = slots.nth(await slots.count() // 2)
    value = await pick.get_attribute("value")
    assert value is not None and value.endswith("+07:00"), value
    await pick.check()
    await shots.take(phone, "slot-picked")
    await phone.locator("#book button[type=submit]").click()

    await expect(phone.get_by_role("status")).to_be_visible()
    at = datetime.fromisoformat(value)
    booked = phone.locator("#booked time")
    await expect(booked).to_have_text(i18n.when(at, Language.KM, ICT))
    shown = await booked.inner_text()
    assert any(month in shown for month in KHMER_MONTHS) and shown.endswith(f"{at:%H:%M} ICT"), shown
    # The phone's browser is in New York: its own time follows, written in Khmer too.
    local = await phone.locator("#booked .local-time").inner_text()
    assert "America/New_York" in local and any(month in local for month in KHMER_MONTHS), local
    await expect(phone.locator("#book")).to_have_count(0)
    await expect(phone.locator("#move")).to_be_visible()
    await shots.take(phone, "consult-booked")

    _, status = await site.api("GET", "/api/v1/cases/BROWSER-CONSULT")
    assert status["consult_pending"] and datetime.fromisoformat(status["consult_at"]) == at
    _, trail = await site.api("GET", "/api/v1/cases/BROWSER-CONSULT/audit")
    assert ("member:BROWSER-CONSULT", "consult.book", "accepted") in {
        (e["actor"], e["action"], e["outcome"]) for e in trail["events"]
    }
