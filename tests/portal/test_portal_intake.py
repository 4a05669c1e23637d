"""Self-service intake through the form: the answer, refusals that open nothing, and the harness guard."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest
from sqlmodel import Session, func, select

from models.db import CaseRow
from tests.browser import conftest as browser_conftest
from tests.polling import holds
from tests.portal.conftest import Site, emailed
from tests.portal.test_portal_sign_in import jar

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
ANSWER = re.compile(r"Your request (SMO-\d{6}-[0-9A-F]{6})")
MEMBER_FORM = {
    "policy_number": "AA-DEMO-0001",
    "patient_name": "Test Member",
    "date_of_birth": "1980-01-01",
    "email": "member@example.com",
    "phone": "",
    "diagnosis_text": "synthetic diagnosis",
    "icd10": "",
    "record_type": "discharge_summary",
}


async def request_opinion(
    http: aiohttp.ClientSession, site: Site, files: int = 1, csrf: str | None = None, **fields: str
) -> aiohttp.ClientResponse:
    url = site.url + "/portal/request/assist-america"
    async with http.get(url) as page:
        match = CSRF.search(await page.text())
    assert match
    form = aiohttp.FormData()
    form.add_field("csrf", match.group(1) if csrf is None else csrf)
    for name, value in (MEMBER_FORM | fields).items():
        form.add_field(name, value)
    for i in range(files):
        form.add_field("file", f"synthetic record {i}".encode(), filename=f"record-{i}.pdf")
    return await http.post(url, data=form)


def case_count(site: Site) -> int:
    with Session(site.engine) as db:
        return int(db.exec(select(func.count()).select_from(CaseRow)).one())


async def test_an_eligible_request_without_an_icd10_code_opens_a_case_and_emails_the_sign_in_link(
    site: Site,
) -> None:
    async with jar() as http:
        resp = await request_opinion(http, site, files=2)
        html = await resp.text()
    assert resp.status == 200, html
    match = ANSWER.search(html)
    assert match and "Your cover includes a second medical opinion" in html
    case_id = match.group(1)
    assert await site.sign_in_link(case_id)
    _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
    assert status["records"]["documents"] == 2
    _, trail = await site.api("GET", f"/api/v1/cases/{case_id}/audit")
    assert (f"member:{case_id}", "records.add") in {(e["actor"], e["action"]) for e in trail["events"]}


async def test_an_ineligible_request_shows_and_emails_the_answer_and_keeps_no_document(site: Site) -> None:
    before = {p for p in site.services.store.root.rglob("*") if p.is_file()}
    async with jar() as http:
        resp = await request_opinion(http, site, policy_number="AA-NOPE-9999")
        html = await resp.text()
    assert resp.status == 200
    assert "does not include a second opinion" in html
    match = ANSWER.search(html)
    assert match
    case_id = match.group(1)

    async def answered() -> bool:
        return bool(emailed(site.services, case_id, re.compile("is not eligible")))

    await holds(answered)
    after = {p for p in site.services.store.root.rglob("*") if p.is_file()}
    assert len(after - before) == 1  # the intake sheet the case keeps; the record is gone


async def test_bad_input_too_many_files_or_no_csrf_opens_no_case(site: Site) -> None:
    async with jar() as http:
        assert (await request_opinion(http, site, date_of_birth="not-a-date")).status == 422
        assert (await request_opinion(http, site, email="nobody")).status == 422
        assert (await request_opinion(http, site, files=21)).status == 422
        assert (await request_opinion(http, site, csrf="0" * 64)).status == 403
    assert case_count(site) == 0


def test_without_chromium_the_browser_tests_fail_and_say_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(browser_conftest, "CHROMIUM", tmp_path / "no-chromium")
    with pytest.raises(pytest.fail.Exception, match=r"make chromium"):
        browser_conftest.require_chromium()
