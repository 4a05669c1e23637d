"""The member's survey page from its email link: in the member's language, answered once, then
410; a forged link is a 404 and a choice outside the page's a 422 that changes nothing."""

from __future__ import annotations

import re

import aiohttp

from tests.polling import eventually
from tests.portal.conftest import Site, emailed

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
SURVEY_LINK = re.compile(r"https?://\S+/portal/survey/\S+")


async def test_a_khmer_member_answers_the_survey_once_from_its_link(site: Site) -> None:
    case_id = "SURVEY-1"
    await site.ready_for_review(case_id, language="km")
    status = await site.stage(case_id, "UNDER_REVIEW")
    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4 report", filename="report.pdf")
    code, body = await site.api(
        "POST",
        f"/api/v1/cases/{case_id}/report",
        data=form,
        params={"specialist_id": status["specialist_id"]},
    )
    assert code == 200, body
    await site.stage(case_id, "REPORT_DELIVERED", "CONSULT")
    code, body = await site.api("POST", f"/api/v1/cases/{case_id}/survey", json={})
    assert code == 200, body

    async def links() -> list[str]:
        return emailed(site.services, case_id, SURVEY_LINK)

    found = await eventually(links, bool, what=lambda _: "no survey link emailed")
    link = site.url + found[-1][found[-1].index("/portal/") :]
    assert link.endswith("?lang=km")
    async with aiohttp.ClientSession() as http:
        async with http.get(link.replace("/1/", "/2/", 1)) as page:
            assert page.status == 404
        async with http.get(link) as page:
            assert page.status == 200 and page.headers["Content-Language"] == "km"
            text = await page.text()
        csrf = CSRF.search(text)
        assert csrf and "តើអ្នកពេញចិត្ត" in text
        for answers in (
            {"satisfaction": "6", "will_follow": "yes"},
            {"satisfaction": "5", "will_follow": "maybe"},
        ):
            async with http.post(link, data={"csrf": csrf.group(1), **answers}) as refused:
                assert refused.status == 422
        answers = {"csrf": csrf.group(1), "satisfaction": "5", "will_follow": "yes", "comment": "Very clear."}
        async with http.post(link, data=answers) as thanked:
            assert thanked.status == 200 and "សូមអរគុណ" in await thanked.text()
        async with http.get(link) as page:
            assert page.status == 410
    _, now = await site.api("GET", f"/api/v1/cases/{case_id}")
    assert now["survey"]["satisfaction"] == 5 and now["survey"]["will_follow"] is True
