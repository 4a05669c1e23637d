"""What the specialist's assignment page shows about the case, rendered without a server.

The due date is the same instant in summer and in winter terms: Texas reads it in CDT from
March to November and in CST otherwise, with the desk's ICT beside it; the member's age is
counted on the specialist's own today; the name shows only where the program requires it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from models.case import InfoReason
from models.db import DocumentRow
from models.intake import PatientIntake
from models.vocabulary import Sex
from runtime import i18n
from runtime.i18n import ICT, Language, zone_of
from web.portal.case_sheet import NOT_GIVEN, CaseSheet, ConsultSheet, age_on, case_sheet
from web.portal.pages import render

CHICAGO = ZoneInfo("America/Chicago")
SUMMER = datetime(2026, 7, 14, 10, 0, tzinfo=UTC)  # 05:00 CDT (UTC-5), 17:00 ICT
WINTER = datetime(2026, 1, 13, 10, 0, tzinfo=UTC)  # 04:00 CST (UTC-6), 17:00 ICT


def sheet_of(**changes: Any) -> PatientIntake:
    fields: dict[str, Any] = {
        "patient_name": "Sokha Chan",
        "date_of_birth": date(1980, 7, 15),
        "email": "member@example.com",
        "diagnosis_text": "invasive ductal carcinoma, left breast",
        "icd10": "C50.912",
        "policy_number": "KH-DEMO-0001",
        "sex": Sex.FEMALE,
    }
    return PatientIntake(**(fields | changes))


def read(intake: PatientIntake | None = None, *, due: datetime | None = SUMMER, **kw: Any) -> CaseSheet:
    options: dict[str, Any] = {"sees_name": False, "zone": CHICAGO, "due_at": due, "now": SUMMER} | kw
    return case_sheet(intake or sheet_of(), **options)


def page(sheet: CaseSheet, plans: Sequence[DocumentRow] = (), reviewing: bool = True) -> str:
    """The assignment page as the portal renders it (the visit stands in for a signed link)."""
    base = "/portal/assignments/KH-1/1/9/s"
    visit = SimpleNamespace(who=SimpleNamespace(case_id="KH-1"), assignment_no=1, base=base, csrf="c" * 64)
    with i18n.using(Language.EN):
        response = render(
            "assignment.html",
            visit=visit,
            sheet=sheet,
            plans=list(plans),
            records=[],
            reasons=list(InfoReason),
            done="",
            paused=False,
            reviewing=reviewing,
        )
    assert response.text is not None
    return response.text


def test_the_due_date_reads_cdt_in_summer_and_cst_in_winter_with_the_desks_ict_beside_it() -> None:
    summer, winter = read(due=SUMMER), read(due=WINTER)
    assert summer.due == "Tuesday 14 July 2026, 05:00 CDT"
    assert winter.due == "Tuesday 13 January 2026, 04:00 CST"
    assert summer.due_at_desk == "Tuesday 14 July 2026, 17:00 ICT"
    assert winter.due_at_desk == "Tuesday 13 January 2026, 17:00 ICT"
    html = page(winter)
    assert "Tuesday 13 January 2026, 04:00 CST" in html and "17:00 ICT" in html


def test_before_the_clock_runs_there_is_no_due_date() -> None:
    sheet = read(due=None)
    assert sheet.due == "" and sheet.due_at_desk == ""
    assert 'id="due-at"' not in page(sheet)


def test_the_age_is_counted_on_the_specialists_own_today() -> None:
    # 03:00 UTC on 15 July is still 14 July in Texas (the eve of the birthday), already the
    # 15th in Phnom Penh.
    now = datetime(2026, 7, 15, 3, 0, tzinfo=UTC)
    assert read(now=now).age == 45
    assert read(now=now, zone=ICT).age == 46
    assert age_on(date(2000, 2, 29), date(2026, 2, 28)) == 25
    assert age_on(date(2000, 2, 29), date(2026, 3, 1)) == 26


def test_the_page_shows_the_diagnosis_its_code_the_age_the_sex_and_the_plan_but_not_the_name() -> None:
    plan = DocumentRow(case_id="KH-1", doc_id="a" * 64, record_type="treatment_plan", size=10)
    html = page(read(), [plan])
    assert "invasive ductal carcinoma, left breast" in html
    assert ">C50.912<" in html
    assert ">45 years<" in html and ">Female<" in html
    assert f'href="/portal/assignments/KH-1/1/9/s/records/{"a" * 64}" download>Treatment plan 1</a>' in html
    assert "Sokha" not in html and "Chan" not in html
    # English only, and no switch that would claim otherwise.
    assert '<html lang="en">' in html and 'class="languages"' not in html


def test_the_name_shows_only_where_the_program_requires_it() -> None:
    assert read().patient_name is None
    named = read(sees_name=True)
    assert named.patient_name == "Sokha Chan"
    assert '<dd id="patient">Sokha Chan</dd>' in page(named)


@pytest.mark.parametrize(("sex", "shown"), [(Sex.FEMALE, "Female"), (Sex.MALE, "Male"), (None, NOT_GIVEN)])
def test_the_sex_is_in_plain_words_and_a_sheet_without_it_says_so(sex: Sex | None, shown: str) -> None:
    assert read(sheet_of(sex=sex)).sex == shown


def test_without_a_plan_the_page_says_so() -> None:
    assert "No treatment plan yet." in page(read())


def test_a_zone_the_tz_database_does_not_know_is_shown_as_the_desks() -> None:
    assert zone_of("America/Chicago").key == "America/Chicago"
    assert zone_of("Mars/Olympus_Mons") is ICT
    assert zone_of("../etc/passwd") is ICT
    assert read(zone=zone_of("Nowhere/At_All")).due.endswith("17:00 ICT")


def consult(at: datetime | None, **kw: Any) -> ConsultSheet:
    """The booked consult as web.portal.case_sheet.consult_sheet makes it, in Texas."""
    values: dict[str, Any] = {
        "number": 1,
        "at": at,
        "when": i18n.when(at, Language.EN, CHICAGO),
        "at_desk": i18n.when(at, Language.EN, ICT),
        "phone": "+855 12 345 678",
        "started": False,
    }
    return ConsultSheet(**(values | kw))


def test_the_booked_consult_reads_cst_or_cdt_with_the_phone_to_call_in_that_one_place() -> None:
    winter = page(read(consult=consult(WINTER, changeable=True)), reviewing=False)
    assert "Tuesday 13 January 2026, 04:00 CST" in winter and "17:00 ICT at the desk" in winter
    assert winter.count("+855 12 345 678") == 1 and 'id="member-phone"' in winter
    assert 'id="consult-move"' in winter and 'id="consult-cancel"' in winter
    assert 'id="consult-outcome"' not in winter
    summer = page(read(consult=consult(SUMMER, phone="")), reviewing=False)
    assert "Tuesday 14 July 2026, 05:00 CDT" in summer and "ask the desk" in summer
    assert 'id="consult-too-late"' in summer and 'id="consult-move"' not in summer
    assert "+855" not in page(read(), reviewing=False)  # no consult: no phone number at all


def test_once_the_consult_has_started_the_page_asks_only_how_it_went() -> None:
    html = page(read(consult=consult(SUMMER, started=True)), reviewing=False)
    assert 'value="done">It took place' in html and 'value="member_absent"' in html
    assert 'id="consult-move"' not in html and 'id="consult-cancel"' not in html
