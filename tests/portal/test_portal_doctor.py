"""The treating doctor, in the portal: the member names their doctor on the case page (a form
without the consent box or with a bad address is refused and stores nothing); once the report is
delivered the doctor's link opens a page with it and a call request; a forged link is a 404; and
once the member withdraws the consent, the page and the download are 410."""

from __future__ import annotations

import re

import aiohttp

from tests.portal.conftest import Site, emailed_link, forged
from tests.portal.test_portal_provider import stored_files
from tests.portal.test_portal_uploads import signed_in

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
LINK = re.compile(r"https?://\S+/portal/doctors/\S+")
REPORT = re.compile(r'href="(/portal/doctors/[^"]+/reports/[0-9a-f]{64})"')
DOCTOR = {
    "doctor_name": "Dr Sok Dara",
    "doctor_hospital": "Calmette Hospital",
    "doctor_email": "dr.sok@example.com",
}


async def test_the_member_shares_the_report_with_their_doctor_and_the_link_dies_with_the_consent(
    site: Site,
) -> None:
    case_id = "DOCTOR-1"
    http, csrf = await signed_in(site, case_id)
    page = site.url + f"/portal/cases/{case_id}"
    async with http:
        before = stored_files(site)
        for form in (
            {"csrf": csrf, **DOCTOR},  # the consent box left unticked
            {"csrf": csrf, **DOCTOR, "doctor_email": "not an address", "agree": "yes"},
            {"csrf": csrf, **DOCTOR, "doctor_name": "", "agree": "yes"},
        ):
            async with http.post(page + "/doctor", data=form, allow_redirects=False) as refused:
                assert refused.status == 422, await refused.text()
        assert stored_files(site) == before
        async with http.post(page + "/doctor", data={**DOCTOR, "agree": "yes"}, allow_redirects=False) as bad:
            assert bad.status == 403  # no CSRF token
        form = {"csrf": csrf, **DOCTOR, "agree": "yes"}
        async with http.post(page + "/doctor", data=form, allow_redirects=False) as shared:
            assert shared.status == 303, await shared.text()
        async with http.get(page) as resp:
            assert "Dr Sok Dara, Calmette Hospital" in await resp.text()

        # The desk takes the case to its report; the doctor's email follows.
        await site.attest_consent(case_id)
        await site.complete_records(case_id)
        status = await site.stage(case_id, "UNDER_REVIEW")
        report = aiohttp.FormData()
        report.add_field("file", b"%PDF-1.4 the full report", filename="report.pdf")
        path = f"/api/v1/cases/{case_id}/report?specialist_id={status['specialist_id']}"
        assert (await site.api("POST", path, data=report))[0] == 200
        await site.stage(case_id, "REPORT_DELIVERED")

        link = await emailed_link(site, case_id, LINK, "link to the doctor")
        async with aiohttp.ClientSession() as doctor:
            async with doctor.get(forged(link)) as fake:
                assert fake.status == 404
            async with doctor.get(link) as resp:
                html = await resp.text()
            assert resp.status == 200 and "Dr Sok Dara" in html
            download = REPORT.search(html)
            doctor_csrf = CSRF.search(html)
            assert download and doctor_csrf
            async with doctor.get(site.url + download.group(1)) as got:
                assert got.status == 200 and await got.read() == b"%PDF-1.4 the full report"
            async with doctor.post(link + "/call", data={}, allow_redirects=False) as no_token:
                assert no_token.status == 403
            call = {"csrf": doctor_csrf.group(1)}
            async with doctor.post(link + "/call", data=call, allow_redirects=False) as asked:
                assert asked.status == 303, await asked.text()
            _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
            assert status["doctor"]["calls_asked"] == 1 and "doctor-to-doctor" in status["attention"]

            # The member withdraws: the doctor's page and the report's download die with it.
            async with http.post(page + "/doctor/withdraw", data={"csrf": csrf}, allow_redirects=False) as w:
                assert w.status == 303, await w.text()
            async with doctor.get(link) as gone:
                assert gone.status == 410
            async with doctor.get(site.url + download.group(1)) as gone:
                assert gone.status == 410
