"""Self-service intake through the form: confirmation by email, the answer, refusals that open nothing."""

from __future__ import annotations

import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlmodel import Session, func, select
from temporalio.client import WorkflowExecutionStatus

import service
from models.db import AuditEvent
from runtime.outbox import read_outbox
from tests.browser import conftest as browser_conftest
from tests.polling import eventually, holds
from tests.portal.conftest import Site, emailed
from tests.portal.test_portal_sign_in import jar

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
FORM = re.compile(r'name="form" value="([0-9A-Za-z_-]+)"')
ANSWER = re.compile(r"Your request (SMO-\d{6}-[0-9A-F]{10})")
CONFIRM = re.compile(r"https?://\S+/portal/confirm/[A-Za-z0-9_-]{43}")
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


async def request_form(http: aiohttp.ClientSession, site: Site) -> tuple[str, str]:
    """The form's CSRF token and its nonce, as a browser gets them (the cookie stays in `http`)."""
    async with http.get(site.url + "/portal/request/assist-america") as page:
        html = await page.text()
    csrf, nonce = CSRF.search(html), FORM.search(html)
    assert csrf and nonce
    return csrf.group(1), nonce.group(1)


def request_body(csrf: str, nonce: str, files: int = 1, **fields: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("csrf", csrf)
    form.add_field("form", nonce)
    for name, value in (MEMBER_FORM | fields).items():
        form.add_field(name, value)
    for i in range(files):
        form.add_field("file", f"synthetic record {i}".encode(), filename=f"record-{i}.pdf")
    return form


async def request_opinion(
    http: aiohttp.ClientSession, site: Site, files: int = 1, csrf: str | None = None, **fields: str
) -> aiohttp.ClientResponse:
    token, nonce = await request_form(http, site)
    body = request_body(token if csrf is None else csrf, nonce, files, **fields)
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


async def test_bad_input_too_many_files_or_no_csrf_opens_no_case(site: Site) -> None:
    async with jar() as http:
        assert (await request_opinion(http, site, date_of_birth="not-a-date")).status == 422
        assert (await request_opinion(http, site, email="nobody")).status == 422
        assert (await request_opinion(http, site, files=21)).status == 422
        assert (await request_opinion(http, site, csrf="0" * 64)).status == 403
    assert case_opens(site) == 0
    assert read_outbox(site.services.settings.outbox_dir) == []


def test_without_chromium_the_browser_tests_fail_and_say_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(browser_conftest, "CHROMIUM", tmp_path / "no-chromium")
    with pytest.raises(pytest.fail.Exception, match=r"make chromium"):
        browser_conftest.require_chromium()
