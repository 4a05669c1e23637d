"""The consult part of the member's page, rendered without a server: the slots grouped by the
member's own day and clock, the booked time in their zone and language, the page with no slot
to offer, and inside the notice the desk's contact instead of the forms."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from multidict import MultiDict, MultiDictProxy

from models.case import Stage
from runtime import i18n
from runtime.consult_holds import MemberHours
from runtime.i18n import ICT, Language, month_names
from tests.portal.test_case_page_stages import delivered, status_at
from web.errors import WebError
from web.portal.base import Desk
from web.portal.case_view import case_context
from web.portal.consult_view import MemberConsult, zone_choices
from web.portal.pages import render
from web.portal.slot_picker import days, slot_from

TOKYO = ZoneInfo("Asia/Tokyo")
# 23:30 and 00:00 the next day in Tokyo are 21:30 and 22:00 the same day in Phnom Penh.
LATE_EVENING = datetime(2026, 12, 15, 14, 30, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 15, 15, 0, tzinfo=UTC)
BOOKED = datetime(2026, 12, 14, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo, 08:00 ICT


def booked_page(consult: MemberConsult, language: Language = Language.EN) -> str:
    status = status_at(
        Stage.CONSULT,
        **delivered(
            consult_open=False,
            consult_pending=True,
            consults_booked=1,
            consult_at=consult.at,
            consult_number=1,
        ),
    )
    with i18n.using(language):
        context = case_context(status, phone="012 345 678", consult=consult)
        response = render(
            "case.html", csrf="c" * 64, desk=Desk("desk@example.org", "+855 23 000 000"), **context
        )
    assert response.text is not None
    return response.text


def test_the_slots_are_grouped_by_the_members_own_day_and_read_on_their_clock() -> None:
    tokyo = days([MIDNIGHT, LATE_EVENING], TOKYO, Language.EN)
    assert [d.label for d in tokyo] == ["Tuesday 15 December 2026", "Wednesday 16 December 2026"]
    assert [c.label for d in tokyo for c in d.choices] == ["23:30 JST", "00:00 JST"]
    assert tokyo[1].choices[0].value == "2026-12-16T00:00:00+09:00"
    ict = days([MIDNIGHT, LATE_EVENING], ICT, Language.KM)
    assert len(ict) == 1 and [c.label for c in ict[0].choices] == ["21:30 ICT", "22:00 ICT"]
    assert "ធ្នូ" in ict[0].label  # December, in Khmer


def test_a_khmer_members_booked_time_is_in_khmer_in_their_own_zone() -> None:
    hours = MemberHours("Asia/Tokyo", "08:00-13:00")
    consult = MemberConsult(hours, TOKYO, zone_choices("Asia/Tokyo", BOOKED), BOOKED, 1, changeable=True)
    html = booked_page(consult, Language.KM)
    stamp = re.search(r'<time datetime="([^"]+)"[^>]* data-offset="(\d+)">([^<]+)</time>', html)
    assert stamp is not None and stamp.group(2) == "540"  # local-time.js compares the browser's with it
    assert "10:00 JST" in stamp.group(3) and month_names(Language.KM)[11] in stamp.group(3)
    assert '<option value="Asia/Tokyo" selected>' in html
    assert 'id="no-other-slots"' in html  # changeable, but no other slot fits


def test_inside_the_notice_the_page_gives_the_desks_contact_and_no_forms() -> None:
    consult = MemberConsult(MemberHours(), ICT, zone_choices("Asia/Phnom_Penh", BOOKED), BOOKED, 1)
    html = booked_page(consult)
    too_late = re.search(r'<p id="too-late">.*?</p>', html, re.DOTALL)
    assert too_late is not None
    assert "desk@example.org" in too_late.group(0) and "+855 23 000 000" in too_late.group(0)
    for form in ("move", "cancel", "hours", "book"):
        assert f'id="{form}"' not in html, form


@pytest.mark.parametrize(
    "posted", ["2026-12-16T00:00:00", "2026-12-16", "", "soon", "2026-12-16T00:00:00+25:00"]
)
def test_a_slot_without_its_offset_is_no_choice(posted: str) -> None:
    form: MultiDictProxy[str] = MultiDictProxy(MultiDict({"slot": posted}))
    with pytest.raises(WebError) as refused:
        slot_from(form, "choose")
    assert (refused.value.status, refused.value.message) == (422, "choose")


def test_a_posted_choice_is_the_instant_it_names() -> None:
    form: MultiDictProxy[str] = MultiDictProxy(MultiDict({"slot": "2026-12-16T00:00:00+09:00"}))
    assert slot_from(form, "choose") == MIDNIGHT
