"""The translator's page for an opinion, and the member reading it in Khmer.

A Khmer-reading member's case is reported through the API with a summary and an answer; the
translator's email links a page with the English, which takes their translation once. A forged
link is a 404; a form without its CSRF token, or with an answer missing, is refused and stores
nothing; once the translation is in, the link is 410. The member's page then shows the Khmer
beside the English original.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from tests.portal.conftest import Site, emailed_link, forged
from tests.portal.test_portal_provider import stored_files
from tests.portal.test_portal_sign_in import jar, sign_in

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
LINK = re.compile(r"https?://\S+/portal/opinion-translations/\S+")
SUMMARY = "The diagnosis stands; the dose changes."
KHMER = "រោគវិនិច្ឆ័យនៅដដែល ប៉ុន្តែកម្រិតថ្នាំផ្លាស់ប្តូរ។"


async def reported(site: Site, case_id: str) -> dict[str, Any]:
    """A prudential-kh case of a member who reads Khmer, with one question, reported with the
    opinion for the member (the API's two calls); its status once the report is delivered."""
    await site.ready_for_review(case_id, "prudential-kh", language="km", questions=["Can I keep working?"])
    status = await site.stage(case_id, "UNDER_REVIEW")
    opinion = {"specialist_id": status["specialist_id"], "summary": SUMMARY, "answers": ["Yes, part-time."]}
    code, body = await site.api("POST", f"/api/v1/cases/{case_id}/opinion", json=opinion)
    assert code == 200, body
    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4 full report", filename="report.pdf")
    path = f"/api/v1/cases/{case_id}/report?specialist_id={status['specialist_id']}"
    code, body = await site.api("POST", path, data=form)
    assert code == 200, body
    return await site.stage(case_id, "REPORT_DELIVERED")


async def test_the_translator_s_link_takes_one_translation_and_the_member_reads_it_in_khmer(
    site: Site,
) -> None:
    case_id = "OPINION-KM-1"
    status = await reported(site, case_id)
    assert status["opinion"]["translate_to"] == "km"  # the edge read the member's language

    link = await emailed_link(site, case_id, LINK, "translator link")
    async with aiohttp.ClientSession() as http:
        async with http.get(forged(link)) as fake:
            assert fake.status == 404
        async with http.get(link) as page:
            html = await page.text()
        assert page.status == 200 and SUMMARY in html and "Yes, part-time." in html
        csrf = CSRF.search(html)
        assert csrf

        before = stored_files(site)
        for form, code in (
            ({"summary": KHMER, "answer": "បាទ"}, 403),  # no CSRF token
            ({"csrf": csrf.group(1), "summary": KHMER}, 422),  # the answer left out
            ({"csrf": csrf.group(1), "summary": KHMER, "answer": "x\x00"}, 422),
        ):
            async with http.post(link, data=form) as refused:
                assert refused.status == code, await refused.text()
        assert stored_files(site) == before

        translation = {"csrf": csrf.group(1), "summary": KHMER, "answer": "បាទ ក្រៅម៉ោង។"}
        async with http.post(link, data=translation) as done:
            assert done.status == 200, await done.text()
        async with http.get(link) as ended:
            assert ended.status == 410

    _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
    assert status["opinion"]["translation"]["sheet_doc_id"] is not None
    async with jar() as member:
        resp = await sign_in(member, await site.sign_in_link(case_id))
        assert resp.status == 303
        async with member.get(site.url + f"/portal/cases/{case_id}") as page:
            html = await page.text()
    assert KHMER in html and "បាទ ក្រៅម៉ោង។" in html and SUMMARY in html  # the Khmer beside the English
