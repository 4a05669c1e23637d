"""Self-service intake through the form: confirmation by email, the answer, refusals that open nothing.

The form speaks the page's language and takes the member's own; it lists the documents the
program needs and takes a type per file; its phone rule is every edge's; the date of birth is
typed as day, month and year; a refusal says in plain words what to check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from email.message import EmailMessage
from html import escape
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlmodel import Session, func, select
from temporalio.client import WorkflowExecutionStatus

import service
from models.db import AuditEvent
from models.input_text import PHONE_SCHEMA_PATTERN, check_phone
from models.intake import PatientIntake, changed_sheet
from models.vocabulary import Sex
from runtime.outbox import read_outbox
from tests.browser import conftest as browser_conftest
from tests.polling import eventually, holds
from tests.portal.conftest import MEMBER, Site, emailed
from tests.portal.test_portal_sign_in import jar
from web.portal.intake import FIELDS
from worker import Services

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
FORM = re.compile(r'name="form" value="([0-9A-Za-z_-]+)"')
ANSWER = re.compile(r"Your request (SMO-\d{6}-[0-9A-F]{10})")
ITEMS = re.compile(r"<li>(.*?)</li>")
CONFIRM = re.compile(r"https?://\S+/portal/confirm/[A-Za-z0-9_-]{43}(?:\?lang=[a-z]{2})?")
# A document on the form: its record type, its file's name and its content.
Document = tuple[str, str, bytes]
# The form's fields in the order the page sends them (web.portal.intake.FIELDS); its documents
# follow, each a record type and then its file.
MEMBER_FORM = {
    "policy_number": "AA-DEMO-0001",
    "patient_name": "Test Member",
    "date_of_birth_day": "1",
    "date_of_birth_month": "1",
    "date_of_birth_year": "1980",
    "sex": "",
    "email": "member@example.com",
    "phone": "",
    "language": "en",
    "diagnosis_text": "synthetic diagnosis",
    "icd10": "",
}


async def request_form(http: aiohttp.ClientSession, site: Site) -> tuple[str, str]:
    """The form's CSRF token and its nonce, as a browser gets them (the cookie stays in `http`)."""
    async with http.get(site.url + "/portal/request/assist-america") as page:
        html = await page.text()
    csrf, nonce = CSRF.search(html), FORM.search(html)
    assert csrf and nonce
    return csrf.group(1), nonce.group(1)


def request_body(
    csrf: str,
    nonce: str,
    files: int = 1,
    *,
    documents: Sequence[Document] = (),
    questions: Sequence[str] = (),
    **fields: str,
) -> aiohttp.FormData:
    """The form as a browser sends it: `files` discharge summaries, or `documents` as given;
    the question boxes (after the fields, before the documents) as given."""
    form = aiohttp.FormData()
    form.add_field("csrf", csrf)
    form.add_field("form", nonce)
    for name, value in (MEMBER_FORM | fields).items():
        form.add_field(name, value)
    for question in questions:
        form.add_field("question", question)
    documents = documents or [
        ("discharge_summary", f"record-{i}.pdf", f"synthetic record {i}".encode()) for i in range(files)
    ]
    for record_type, filename, content in documents:
        form.add_field("record_type", record_type)
        form.add_field("file", content, filename=filename)
    return form


async def request_opinion(
    http: aiohttp.ClientSession,
    site: Site,
    files: int = 1,
    csrf: str | None = None,
    documents: Sequence[Document] = (),
    questions: Sequence[str] = (),
    **fields: str,
) -> aiohttp.ClientResponse:
    token, nonce = await request_form(http, site)
    csrf = token if csrf is None else csrf
    body = request_body(csrf, nonce, files, documents=documents, questions=questions, **fields)
    return await http.post(site.url + "/portal/request/assist-america", data=body, allow_redirects=False)


def messages_to(site: Site, address: str) -> list[EmailMessage]:
    return [m for m in read_outbox(site.services.settings.outbox_dir) if m["To"] == address]


def body_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    return str(part.get_content()) if part is not None else ""


async def confirmation(site: Site, address: str = MEMBER_FORM["email"]) -> tuple[str, str]:
    """(case id, confirmation URL) of the request whose confirmation mail went to `address`."""

    async def mailed() -> list[EmailMessage]:
        return [m for m in messages_to(site, address) if CONFIRM.search(body_of(m))]

    (msg, *_) = await eventually(mailed, bool, what=lambda _: f"no confirmation mail to {address}")
    match = CONFIRM.search(body_of(msg))
    assert match
    return str(msg["X-SMO-Case-Id"]), match.group(0)


async def confirm(http: aiohttp.ClientSession, url: str) -> aiohttp.ClientResponse:
    """Open the confirmation link (a page with a button) and press the button."""
    async with http.get(url) as page:
        assert page.status == 200, await page.text()
        match = CSRF.search(await page.text())
    assert match
    return await http.post(url, data={"csrf": match.group(1)}, allow_redirects=False)


def audited(site: Site, action: str) -> list[Any]:
    with Session(site.engine) as db:
        return list(db.exec(select(AuditEvent).where(AuditEvent.action == action)))


def case_opens(site: Site) -> int:
    with Session(site.engine) as db:
        query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "case.open")
        return int(db.exec(query).one())


async def test_an_eligible_request_is_confirmed_by_email_then_opens_and_emails_the_sign_in_link(
    site: Site,
) -> None:
    async with jar() as http:
        resp = await request_opinion(http, site, files=2)
        assert resp.status == 303, await resp.text()
        assert resp.headers["Location"] == "/portal/request/assist-america/sent"
        async with http.get(site.url + resp.headers["Location"]) as sent:
            assert "Check your email" in await sent.text()
        case_id, url = await confirmation(site)
        async with http.get(url) as page:  # a mail scanner's GET confirms nothing
            assert "Confirm my request" in await page.text()
        _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
        assert status["stage"] == "INTAKE"
        answer = await confirm(http, url)
        html = await answer.text()
    assert answer.status == 200, html
    match = ANSWER.search(html)
    assert match and match.group(1) == case_id and "Your cover includes a second medical opinion" in html
    assert await site.sign_in_link(case_id)
    _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
    assert status["records"]["documents"] == 2
    _, trail = await site.api("GET", f"/api/v1/cases/{case_id}/audit")
    actions = {(e["actor"], e["action"], e["outcome"]) for e in trail["events"]}
    member = f"member:{case_id}"
    assert {(member, "case.open", "requested"), (member, "request.confirm", "accepted")} <= actions
    async with jar() as http, http.get(url) as again:
        assert again.status == 410  # single use
        assert "confirmed already" in await again.text()


async def test_an_ineligible_request_shows_and_emails_the_answer_ends_and_keeps_no_document(
    site: Site,
) -> None:
    before = {p for p in site.services.store.root.rglob("*") if p.is_file()}
    async with jar() as http:
        assert (await request_opinion(http, site, policy_number="AA-NOPE-9999")).status == 303
        case_id, url = await confirmation(site)
        resp = await confirm(http, url)
        html = await resp.text()
    assert resp.status == 200
    assert "does not include a second opinion" in html
    assert (match := ANSWER.search(html)) and match.group(1) == case_id
    # It speaks to the member: which rule applied and what they can do now, in the program's
    # words to a member, and how to reach the desk.
    _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
    program = site.services.programs["assist-america"]
    said = [program.member_words(r["code"]) for r in status["eligibility"]["reasons"]]
    assert said and listed(html, "why") == list(dict.fromkeys(escape(w.reason) for w in said))
    assert listed(html, "next") == list(dict.fromkeys(escape(w.next_step) for w in said))
    assert "the member" not in html.lower()
    assert site.services.settings.desk_phone in html

    async def answered() -> bool:
        return bool(emailed(site.services, case_id, re.compile("is not eligible")))

    await holds(answered)
    client = site.env.client

    async def run_status() -> Any:
        desc = await service.describe(client, case_id)
        return desc.status if desc else None

    # Its workflow ends with the answer: no override window keeps it running.
    await eventually(run_status, lambda s: s == WorkflowExecutionStatus.COMPLETED)

    async def only_the_sheet_is_left() -> bool:
        after = {p for p in site.services.store.root.rglob("*") if p.is_file()}
        return len(after - before) == 1  # the intake sheet the case keeps; the record is gone

    await holds(only_the_sheet_is_left)


async def test_bad_input_too_many_files_or_no_csrf_opens_no_case_and_says_what_to_check(site: Site) -> None:
    async with jar() as http:

        async def refused(status: int, **fields: Any) -> str:
            resp = await request_opinion(http, site, **fields)
            page = await resp.text()
            assert resp.status == status, page
            return page

        assert "Please check the email address" in await refused(422, email="nobody")
        assert "up to 20 documents" in await refused(422, files=21)
        await refused(403, csrf="0" * 64)
        # The contact form's phone rule, in plain words: no pattern, and not the number typed.
        page = await refused(422, phone="012 345 678 ext 5")
        assert "Please write the phone number with digits" in page
        assert "ext 5" not in page and "[0-9" not in page
        # The date of birth as day, month and year: a day that does not exist, a part missing.
        for day, month in (("31", "2"), ("29", "2"), ("0", "1"), ("32", "1"), ("1", "13")):
            page = await refused(
                422, date_of_birth_day=day, date_of_birth_month=month, date_of_birth_year="1981"
            )
            assert "This day does not exist" in page, (day, month)
        for missing in ("date_of_birth_day", "date_of_birth_month", "date_of_birth_year"):
            assert "the day, the month and the year" in await refused(422, **{missing: ""})
        assert "the day, the month and the year" in await refused(422, date_of_birth_day="x")
    assert case_opens(site) == 0
    assert read_outbox(site.services.settings.outbox_dir) == []


async def test_the_api_refuses_the_phone_the_form_refuses(site: Site) -> None:
    details = {**MEMBER, "policy_number": "AA-DEMO-0001", "phone": "012 345 678 ext 5"}
    code, body = await site.api(
        "POST", "/api/v1/cases", json={"program": "assist-america", "details": details}
    )
    assert code == 422 and "details.phone: use digits" in body["error"], body
    assert "ext 5" not in body["error"]
    assert case_opens(site) == 0


async def test_the_form_is_in_the_page_s_language_and_lists_the_documents_the_program_needs(
    site: Site,
) -> None:
    url = site.url + "/portal/request/assist-america"
    async with jar() as http:
        async with http.get(url) as page:
            english = await page.text()
        async with http.get(url + "?lang=km") as page:
            khmer = await page.text()
        async with http.get(url) as page:  # the switch is remembered
            remembered = await page.text()
    async with jar() as http, http.get(url, headers={"Accept-Language": "km-KH,km;q=0.9,en;q=0.5"}) as page:
        asked = await page.text()
    assert '<html lang="en">' in english and "Request a second medical opinion" in english
    for html in (khmer, remembered, asked):
        assert '<html lang="km">' in html
        assert "មករា" in html  # January, in the day-month-year date of birth
        # The member's language is asked, and is the page's unless they choose another.
        assert '<option value="km" lang="km" selected>' in html
    assert '<option value="en" lang="en" selected>' in english
    assert listed(english, "needed") == ["Hospital discharge summary", "Your doctor&#39;s treatment plan"]
    # A row for each document needed, its type chosen, then rows to choose a type for.
    chosen = re.findall(r'<option value="([a-z_]+)" selected>', english)
    assert chosen == ["discharge_summary", "treatment_plan"]
    assert english.count('name="file" type="file"') == 5
    # The date of birth is three fields, never the browser's widget; sex may be left empty.
    assert 'type="date"' not in english and "January" in english
    assert '<option value="">Prefer not to say</option>' in english
    # The page sends its fields in the order the server reads them, then the member's question
    # boxes; the documents come last.
    form = english[english.index("<form") :]
    names = list(dict.fromkeys(re.findall(r'name="(\w+)"', form)))
    assert names == ["csrf", "form", *FIELDS, "question", "record_type", "file"]


async def test_each_file_arrives_with_its_own_type_and_the_member_s_language_and_sex_are_kept(
    site: Site,
) -> None:
    documents = [
        ("biopsy_report", "biopsy..v2.pdf", b"%PDF-1.4 synthetic biopsy"),  # two dots: an ordinary name
        ("discharge_summary", "discharge.pdf", b"%PDF-1.4 synthetic discharge summary"),
        ("", "", b""),  # a row left empty, as a browser sends it
        ("treatment_plan", "plan-1.pdf", b"%PDF-1.4 synthetic plan, page 1"),
        ("treatment_plan", "plan-2.pdf", b"%PDF-1.4 synthetic plan, page 2"),
    ]
    async with jar() as http:
        resp = await request_opinion(
            http, site, documents=documents, language="km", sex="female", phone="+855 12 345 678"
        )
        assert resp.status == 303, await resp.text()
        case_id, url = await confirmation(site)
        async with http.get(url) as page:  # the confirmation speaks the language chosen on the form
            assert '<html lang="km">' in await page.text()
        answer = await confirm(http, url)
        html = await answer.text()
    assert answer.status == 200 and '<html lang="km">' in html
    _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
    assert status["records"]["received"] == {"biopsy_report": 1, "discharge_summary": 1, "treatment_plan": 2}
    intake = site.services.store.load_intake(case_id, status["intake_doc_id"])
    assert (intake.language, intake.sex, intake.phone) == ("km", Sex.FEMALE, "+855 12 345 678")


def test_a_sheet_stored_before_the_phone_rule_still_loads_and_keeps_its_phone(services: Services) -> None:
    old = {**MEMBER, "policy_number": "AA-DEMO-0001", "phone": "012 345 678 ext 5"}
    old.pop("sex", None)  # sheets from before it was asked have none
    stored = services.store.put_bytes(json.dumps(old).encode(), "AA-OLD-1")
    sheet = services.store.load_intake("AA-OLD-1", stored.doc_id)
    assert sheet.phone == "012 345 678 ext 5" and sheet.sex is None
    # A change of another detail keeps the phone on file; a new phone keeps the rule.
    assert changed_sheet(sheet, {"language": "km"}).phone == "012 345 678 ext 5"
    with pytest.raises(ValidationError, match="6 to 20 digits"):
        changed_sheet(sheet, {"phone": "012 345 679 ext 6"})
    with pytest.raises(ValidationError, match="6 to 20 digits"):
        PatientIntake.model_validate(old)


@settings(max_examples=300, deadline=None)
@given(st.from_regex(PHONE_SCHEMA_PATTERN, fullmatch=True).filter(lambda v: len(v) <= 40))
def test_every_phone_the_schema_allows_is_one_every_edge_takes(phone: str) -> None:
    # The API's fuzzers draw phones from the schema: none of them may be refused.
    assert check_phone(phone) == phone.strip()


def listed(html: str, list_id: str) -> list[str]:
    """The items of the page's list `list_id`, as written in the page."""
    match = re.search(rf'<ul id="{list_id}">(.*?)</ul>', html, re.DOTALL)
    assert match, f"no list {list_id}"
    return ITEMS.findall(match.group(1))


def test_without_chromium_the_browser_tests_fail_and_say_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(browser_conftest, "CHROMIUM", tmp_path / "no-chromium")
    with pytest.raises(pytest.fail.Exception, match=r"make chromium"):
        browser_conftest.require_chromium()


async def test_the_member_s_questions_on_the_form_reach_the_case_and_the_specialist_sees_each(
    site: Site,
) -> None:
    """Five boxes on the form; the ones filled in are the case's questions, in their order, in the
    encrypted intake sheet (the case itself keeps only how many)."""
    async with jar() as http:
        token, nonce = await request_form(http, site)
        async with http.get(site.url + "/portal/request/assist-america") as page:
            assert page_html_boxes(await page.text()) == 5
        asked = ["Is surgery really needed?", "", "  ", "ថ្នាំនេះមានផលរំខានអ្វីខ្លះ?", ""]
        body = request_body(token, nonce, questions=asked)
        resp = await http.post(site.url + "/portal/request/assist-america", data=body, allow_redirects=False)
        assert resp.status == 303, await resp.text()
        case_id, url = await confirmation(site)
        assert (await confirm(http, url)).status == 200
    _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
    intake = site.services.store.load_intake(case_id, status["intake_doc_id"])
    assert intake.questions == ["Is surgery really needed?", "ថ្នាំនេះមានផលរំខានអ្វីខ្លះ?"]
    assert status["questions"] == 2


def page_html_boxes(html: str) -> int:
    return html.count('<textarea id="question_')


@pytest.mark.parametrize(
    ("questions", "says"),
    [
        (["one?"] * 6, "at most 5 questions"),  # a sixth box the page never shows
        (["x" * 1001], "at most 1,000 characters"),
        (["y" * 1334 + "ឃ" * 1000], "at most 1,000 characters"),  # past the box's bytes
        (["with a \x00 NUL"], "written text"),
    ],
    ids=["six", "too-long", "past-the-bytes", "nul"],
)
async def test_bad_questions_are_refused_with_what_to_check_and_open_no_case(
    site: Site, questions: list[str], says: str
) -> None:
    before = case_opens(site)
    async with jar() as http:
        resp = await request_opinion(http, site, questions=questions)
        html = await resp.text()
    assert resp.status == 422 and says in html, html
    assert "x" * 50 not in html and "NUL" not in html  # the refusal never repeats what was typed
    assert case_opens(site) == before
