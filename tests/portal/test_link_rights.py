"""Every emailed document link dies with the right it carried, checked on the live case at each use.

The specialist's records email and the member's report email are read from the outbox of the
real service (web app, Temporal dev server, worker); the links are then used as `curl` would.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from urllib.parse import parse_qs, urlsplit

import aiohttp

from models.db import AuditEvent
from runtime.db import audit_trail
from tests.api.conftest import MEMBER
from tests.polling import eventually
from tests.portal.conftest import Site, emailed
from tests.portal.test_portal_sign_in import jar, sign_in
from tests.portal.test_portal_specialist import csrf_of

DOCUMENT_LINK = re.compile(r"https?://\S+/reports/\S+")
REPORT = b"%PDF-1.4 synthetic second opinion"


def document_links(site: Site, case_id: str, **right: str) -> list[str]:
    """The case's emailed document links whose query names this right (e.g. for="member")."""
    out = []
    for link in emailed(site.services, case_id, DOCUMENT_LINK):
        query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
        if all(query.get(k) == v for k, v in right.items()):
            out.append(link)
    return out


async def links_of(site: Site, case_id: str, **right: str) -> list[str]:
    """Once the email has arrived: the links of `document_links`."""
    return await eventually(lambda: _now(site, case_id, right), bool, what=lambda _: "no such links emailed")


async def _now(site: Site, case_id: str, right: dict[str, str]) -> list[str]:
    return document_links(site, case_id, **right)


async def answers(links: list[str]) -> list[int]:
    async with aiohttp.ClientSession() as http:
        out = []
        for link in links:
            async with http.get(link) as resp:
                await resp.read()
                out.append(resp.status)
        return out


async def page(link: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(link) as resp:
        return resp.status, await resp.text()


def downloads(site: Site, case_id: str) -> list[AuditEvent]:
    return [e for e in audit_trail(site.engine, case_id) if e.action == "document.download"]


async def test_a_specialists_record_links_answer_410_once_they_decline_and_the_next_ones_work(
    site: Site,
) -> None:
    await site.ready_for_review("LINK-DECLINE", "prudential-kh")
    first = await links_of(site, "LINK-DECLINE", **{"for": "assignment", "n": "1"})
    assert await answers(first) == [200] * len(first)
    _, status = await site.api("GET", "/api/v1/cases/LINK-DECLINE")
    declined = status["specialist_id"]
    assert all(f"sp={declined}" in link for link in first)
    code, body = await site.api(
        "POST",
        "/api/v1/cases/LINK-DECLINE/specialist/decline",
        json={"specialist_id": declined, "reason": "conflict of interest"},
    )
    assert code == 200, body
    # At once: the answer to the decline is the moment the right is gone.
    assert await answers(first) == [410] * len(first)
    code, text = await page(first[0])
    assert "ask the SMO desk" in text and MEMBER["patient_name"] not in text
    # The next specialist's links carry their own assignment, and work.
    second = await links_of(site, "LINK-DECLINE", **{"for": "assignment", "n": "2"})
    assert declined not in "".join(second)
    assert await answers(second) == [200] * len(second)
    refused = [e for e in downloads(site, "LINK-DECLINE") if e.outcome == "right-gone"]
    assert len(refused) >= len(first) and all(f"assignment 1 ({declined})" in e.detail for e in refused)


async def test_a_specialists_record_links_answer_410_once_the_member_withdraws_consent(site: Site) -> None:
    await site.ready_for_review("LINK-CONSENT")
    links = await links_of(site, "LINK-CONSENT", **{"for": "assignment"})
    assert await answers(links) == [200] * len(links)
    page_link = await site.assignment_link("LINK-CONSENT")
    async with aiohttp.ClientSession() as desk, desk.get(page_link) as got:
        doc = re.findall(r"/records/([0-9a-f]{64})", await got.text())[0]
    async with jar() as http:
        assert (await sign_in(http, await site.sign_in_link("LINK-CONSENT"))).status == 303
        case_page = site.url + "/portal/cases/LINK-CONSENT"
        resp = await http.post(case_page + "/consent/withdraw", data={"csrf": await csrf_of(http, case_page)})
        assert resp.status == 200 and "withdrawn" in await resp.text()
    assert await answers(links) == [410] * len(links)
    # The assignment page's own download holds to the same right.
    code, text = await page(f"{page_link}/records/{doc}")
    assert code == 410 and "ask the SMO desk" in text
    outcomes = [(e.actor, e.outcome) for e in downloads(site, "LINK-CONSENT")]
    assert outcomes.count(("link", "served")) == len(links)
    assert outcomes.count(("link", "right-gone")) == len(links)


async def test_after_close_the_record_links_answer_410_and_the_member_keeps_the_report(site: Site) -> None:
    case = "LINK-CLOSE"
    await site.ready_for_review(case)
    records = await links_of(site, case, **{"for": "assignment"})
    assert await answers(records) == [200] * len(records)
    _, status = await site.api("GET", f"/api/v1/cases/{case}")
    form = aiohttp.FormData()
    form.add_field("file", REPORT, filename="opinion.pdf")
    code, body = await site.api(
        "POST", f"/api/v1/cases/{case}/report?specialist_id={status['specialist_id']}", data=form
    )
    assert code == 200, body
    await site.stage(case, "REPORT_DELIVERED", "CONSULT")
    (report,) = await links_of(site, case, **{"for": "member"})
    code, body = await site.api("POST", f"/api/v1/cases/{case}/close", json={})
    assert code == 200, body
    await site.stage(case, "CLOSED")

    assert await answers(records) == [410] * len(records)
    async with aiohttp.ClientSession() as http, http.get(report) as resp:
        assert resp.status == 200 and await resp.read() == REPORT
    # The report link opens nothing else, and no changed byte of it opens anything.
    doc = urlsplit(report).path.rsplit("/", 1)[1]
    record_doc = urlsplit(records[0]).path.rsplit("/", 1)[1]
    # A changed byte of the signature (the link's `lang` is outside it: the page's language only).
    sig_at = report.index("sig=") + len("sig=")
    flipped = report[:sig_at] + ("0" if report[sig_at] != "0" else "1") + report[sig_at + 1 :]
    assert await answers([report.replace(doc, record_doc), flipped]) == [403, 403]
    as_specialist = report.replace("for=member", f"for=assignment&n=1&sp={status['specialist_id']}")
    assert await answers([as_specialist]) == [403]
    code, text = await page(flipped)
    assert "not valid" in text and MEMBER["patient_name"] not in text

    events = downloads(site, case)
    assert {e.actor for e in events} == {"link"}
    assert {"served", "right-gone", "bad-signature"} <= {e.outcome for e in events}
    for event in events:
        for phi in (MEMBER["patient_name"], MEMBER["email"], MEMBER["diagnosis_text"]):
            assert phi not in event.detail


async def test_a_genuine_link_from_before_rights_answers_410_and_says_what_to_do(site: Site) -> None:
    case = "LINK-OLD"
    await site.ready_for_review(case)
    (record,) = (await links_of(site, case, **{"for": "assignment"}))[:1]
    split = urlsplit(record)
    _, _, doc = split.path.rpartition("/")
    exp = parse_qs(split.query)["exp"][0]
    # What the report email carried until links named a right: (case, doc, exp) under the secret.
    secret = site.services.settings.link_secret.get_secret_value().encode()
    message = json.dumps(["smo-report-link/v1", case, doc, exp]).encode()
    sig = hmac.new(secret, message, hashlib.sha256).hexdigest()
    old = f"{split.scheme}://{split.netloc}{split.path}?exp={exp}&sig={sig}"
    code, text = await page(old)
    assert code == 410 and "sign-in link" in text and "ask the SMO desk" in text
    assert "no-right" in {e.outcome for e in downloads(site, case)}
