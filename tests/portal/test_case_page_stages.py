"""The member's case page at every stage, rendered from a status built by hand (no server):
what each stage must say, and what it must not (a due date after the report, a booking form
while one is booked, an upload form the case would refuse, the case's internal words).

In Khmer the same page is checked for its language and its structure, not for Khmer words:
the catalog is filled in once every sentence is marked.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.case import CaseStatus, RecordsChecklist, RecordType, SlaState, SlaView, Stage
from models.consent import ConsentState
from runtime import i18n
from runtime.consult_holds import MemberHours
from runtime.i18n import ICT, Language
from web.portal.base import Desk
from web.portal.case_view import case_context
from web.portal.consult_view import MemberConsult, zone_choices
from web.portal.pages import render
from web.portal.slot_picker import days

DUE = datetime(2026, 4, 14, 10, 0, tzinfo=UTC)  # 17:00 ICT
SLOT = datetime(2026, 4, 20, 2, 30, tzinfo=UTC)  # 09:30 ICT
REPORT = "a" * 64
CASE = "SMO-260414-1A2B3C"


def status_at(stage: Stage, **changes: Any) -> CaseStatus:
    """A case at `stage` as its `status` query would show it, with `changes` on top."""
    records = RecordsChecklist(
        required=[RecordType.BIOPSY_REPORT, RecordType.TREATMENT_PLAN],
        received={},
        documents=0,
        cap=20,
        accepting=stage is Stage.GATHERING_RECORDS,
    )
    values: dict[str, Any] = {
        "case_id": CASE,
        "program": "prudential-kh",
        "intake_doc_id": "0" * 64,
        "stage": stage,
        "specialist_id": None,
        "specialty": None,
        "records": records,
        "sla": SlaView(),
        "consults_booked": 0,
        "consults_completed": 0,
        "free_consults_left": 1,
        "consult_pending": False,
        "reassignment_offered": False,
        "eligibility": None,
        "report_doc_ids": [],
        "follow_up_of": None,
        "follow_up_allowed": False,
        "timeline": [],
        "consent": ConsentState(required=True),
    }
    return CaseStatus.model_validate(values | changes)


def reviewed(state: SlaState = SlaState.RUNNING, **changes: Any) -> dict[str, Any]:
    """A case past its records, the clock in `state`, its due date set."""
    received = {RecordType.BIOPSY_REPORT: 1, RecordType.TREATMENT_PLAN: 1}
    records = RecordsChecklist(
        required=list(received), received=received, documents=2, cap=20, accepting=False
    )
    return {"records": records, "sla": SlaView(state=state, due_at=DUE), "specialist_id": "sp-1"} | changes


def delivered(**changes: Any) -> dict[str, Any]:
    return reviewed(SlaState.MET, report_doc_ids=[REPORT], consult_open=True) | changes


def consult_of(status: CaseStatus, language: Language) -> MemberConsult | None:
    """The consult part as web.portal.consult_view makes it, the service's proposals stood in for
    by two slots the next morning (a booked consult far enough ahead to be moved)."""
    if not (status.consult_pending or (status.consult_open and not status.stage.terminal)):
        return None
    at = status.consult_at if status.consult_pending else None
    starts = [SLOT + timedelta(days=1), SLOT + timedelta(days=1, minutes=30)]
    return MemberConsult(
        MemberHours(),
        ICT,
        zone_choices("Asia/Phnom_Penh", SLOT),
        at,
        status.consult_number,
        changeable=at is not None,
        days=days(starts, ICT, language),
    )


def page(status: CaseStatus, language: Language = Language.EN) -> str:
    with i18n.using(language):
        consult = consult_of(status, language)
        context = case_context(status, email="member@example.com", phone="012 345 678", consult=consult)
        response = render(
            "case.html", csrf="c" * 64, desk=Desk("desk@example.org", "+855 23 000 000"), **context
        )
    assert response.text is not None
    return response.text


UPLOAD = f'action="/portal/cases/{CASE}/records"'
BOOK = 'id="book"'
CONTACT = f'action="/portal/cases/{CASE}/contact"'
CONSENT = f'action="/portal/cases/{CASE}/consent"'
DUE_LINE = "Your report is due"
LATE_LINE = "Your report was due"
REPORTS = 'id="reports"'
BOOKED = 'id="booked"'

# stage, what the status holds, sentences and markup the page must show, those it must not.
CASES: list[tuple[str, Stage, dict[str, Any], list[str], list[str]]] = [
    ("intake", Stage.INTAKE, {}, ["We have received your request."], [UPLOAD, BOOK, DUE_LINE, REPORTS]),
    ("eligibility", Stage.ELIGIBILITY, {}, ["checking that your cover"], [UPLOAD, BOOK, DUE_LINE]),
    (
        "gathering",
        Stage.GATHERING_RECORDS,
        {},
        ["We are collecting your medical records.", 'id="missing"', "Biopsy report", UPLOAD, CONTACT],
        [BOOK, DUE_LINE, REPORTS, BOOKED],
    ),
    (
        "gathering, the cap reached",
        Stage.GATHERING_RECORDS,
        {"records": RecordsChecklist(required=[], received={}, documents=20, cap=20, accepting=True)},
        ['id="cap-reached"'],
        [UPLOAD],
    ),
    (
        "assigning, waiting for consent",
        Stage.ASSIGNING_SPECIALIST,
        reviewed(SlaState.NOT_STARTED, sla=SlaView(), consent=ConsentState(required=True, waiting=True)),
        ["choosing the specialist", 'id="consent-waiting"', CONSENT],
        [UPLOAD, DUE_LINE, BOOK, 'id="missing"'],
    ),
    (
        "under review",
        Stage.UNDER_REVIEW,
        reviewed(),
        ["A specialist is reviewing", DUE_LINE, "Tuesday 14 April 2026, 17:00 ICT", "data-local="],
        [UPLOAD, BOOK, REPORTS, "due-may-move"],
    ),
    (
        "under review, late documents allowed",
        Stage.UNDER_REVIEW,
        reviewed(records=RecordsChecklist(required=[], received={}, documents=2, cap=None, accepting=True)),
        [UPLOAD, DUE_LINE],
        [BOOK],
    ),
    (
        "under review, holidays not yet decreed",
        Stage.UNDER_REVIEW,
        reviewed(sla=SlaView(state=SlaState.RUNNING, due_at=DUE, provisional=True)),
        [DUE_LINE, 'id="due-may-move"'],
        [],
    ),
    (
        "under review, the clock stopped",
        Stage.UNDER_REVIEW,
        reviewed(SlaState.PAUSED),
        ["The specialist needs more information."],
        [DUE_LINE, LATE_LINE],
    ),
    ("under review, late", Stage.UNDER_REVIEW, reviewed(SlaState.BREACHED), [LATE_LINE, "sorry"], [DUE_LINE]),
    (
        "report delivered",
        Stage.REPORT_DELIVERED,
        delivered(),
        ["Your written report is ready.", REPORTS, f"/reports/{REPORT}", BOOK, "includes a telephone"],
        [DUE_LINE, LATE_LINE, UPLOAD, BOOKED],
    ),
    (
        "consult booked",
        Stage.CONSULT,
        delivered(consult_open=False, consult_pending=True, consults_booked=1, consult_at=SLOT),
        [BOOKED, "booked for:", "Monday 20 April 2026, 09:30 ICT", REPORTS],
        [BOOK, DUE_LINE, UPLOAD],
    ),
    (
        "consult booked before its time was kept",
        Stage.CONSULT,
        delivered(consult_open=False, consult_pending=True, consults_booked=1),
        [BOOKED, "We have emailed you the time."],
        [BOOK, DUE_LINE],
    ),
    (
        "consult held, another may be booked",
        Stage.CONSULT,
        delivered(consults_booked=1, consults_completed=1, free_consults_left=0),
        [BOOK, "A further consultation is charged."],
        [BOOKED, DUE_LINE],
    ),
    (
        "closed",
        Stage.CLOSED,
        delivered(consult_open=False),
        ["Your case is closed.", REPORTS, f"/reports/{REPORT}"],
        [DUE_LINE, LATE_LINE, BOOK, UPLOAD, CONTACT, CONSENT, BOOKED],
    ),
    ("ineligible", Stage.INELIGIBLE, {}, ["does not include a second opinion"], [UPLOAD, CONTACT, CONSENT]),
    ("lapsed", Stage.LAPSED, {}, ["did not receive the medical records"], [UPLOAD, CONTACT, DUE_LINE]),
    ("cancelled", Stage.CANCELLED, {}, ["Your request was cancelled."], [UPLOAD, CONTACT, BOOK]),
]


@pytest.mark.parametrize(
    ("stage", "holds", "shows", "hides"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_stage_says_what_is_true_and_nothing_that_is_not(
    stage: Stage, holds: dict[str, Any], shows: list[str], hides: list[str]
) -> None:
    html = page(status_at(stage, **holds))
    assert '<html lang="en">' in html
    for wanted in shows:
        assert wanted in html, wanted
    for unwanted in hides:
        assert unwanted not in html, unwanted
    # The case's own words (a stage, a record type's identifier) never reach the member's eyes.
    text = re.sub(r"<[^>]*>", " ", html)
    assert not re.search(r"\b[A-Za-z]+_[A-Za-z_]+\b", text), text


def test_every_stage_is_rendered() -> None:
    assert {c[1] for c in CASES} == set(Stage)


@pytest.mark.parametrize(
    ("stage", "holds", "shows", "hides"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_khmer_case_has_the_same_page_in_khmer(
    stage: Stage, holds: dict[str, Any], shows: list[str], hides: list[str]
) -> None:
    html = page(status_at(stage, **holds), Language.KM)
    assert '<html lang="km">' in html
    markup = [s for s in shows + hides if s.startswith(("id=", "action=", 'id="', "data-", "/reports/"))]
    for part in markup:
        assert (part in html) == (part in shows), part


def test_the_contact_form_shows_what_is_on_file() -> None:
    html = page(status_at(Stage.GATHERING_RECORDS))
    assert 'value="member@example.com"' in html and 'value="012 345 678"' in html
    # Each field may be changed alone: neither is required.
    contact = html[html.index(CONTACT) : html.index("</form>", html.index(CONTACT))]
    assert "required" not in contact


def test_the_language_switch_changes_the_case_and_a_finished_case_keeps_a_link() -> None:
    open_case = page(status_at(Stage.GATHERING_RECORDS))
    assert f'action="/portal/cases/{CASE}/language"' in open_case
    assert 'name="language" value="km"' in open_case
    closed = page(status_at(Stage.CLOSED, **delivered(consult_open=False)))
    assert "/language" not in closed and 'href="?lang=km"' in closed


def test_the_documents_still_needed_come_first_in_the_upload_form() -> None:
    html = page(status_at(Stage.GATHERING_RECORDS))
    options = re.findall(r'<option value="([a-z_]+)">', html)
    assert options[:2] == ["biopsy_report", "treatment_plan"]
    assert "smo_report" not in options and "consent" not in options


def test_a_due_date_shows_both_the_ict_time_and_the_machine_time_for_the_readers_zone() -> None:
    html = page(status_at(Stage.UNDER_REVIEW, **reviewed()))
    stamp = re.search(r'<time datetime="([^"]+)" data-local="([^"]+)">([^<]+)</time>', html)
    assert stamp is not None
    assert datetime.fromisoformat(stamp.group(1)) == DUE
    assert stamp.group(2) == "Your time" and stamp.group(3).endswith("17:00 ICT")
    assert (DUE + timedelta(hours=7)).strftime("%d") in stamp.group(3)
