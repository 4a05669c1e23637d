"""A hospital's upload page, and what someone holding (or guessing) its link would try.

The link names one request; a forged or altered one is a 404, and once the request has
ended (every record asked for received) a 410. On the page: a record type the request did
not ask for, a date in the future, a language that is no ISO 639-1 code, a missing CSRF
token and a file name with path characters are each refused, and nothing of them is kept.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import aiohttp

from tests.polling import eventually
from tests.portal.conftest import Site, emailed
from tests.portal.test_portal_uploads import signed_in

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
PROVIDER_LINK = re.compile(r"https?://\S+/portal/providers/\S+")


def stored_files(site: Site) -> set[Path]:
    return {p for p in site.services.store.root.rglob("*") if p.is_file()}


async def asked(site: Site, case_id: str) -> str:
    """A case, a paper release and a request for the operative report: the provider's link."""
    await site.open_case(case_id)
    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4 signed release", filename="release.pdf")
    params = {"provider": "Calmette Hospital", "expires": "2099-01-01"}
    code, body = await site.api("POST", f"/api/v1/cases/{case_id}/releases", data=form, params=params)
    assert code == 409 and "at most 1 year" in body["error"], body  # a century is too long
    params["expires"] = str(date.today() + timedelta(days=60))
    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4 signed release", filename="release.pdf")
    code, body = await site.api("POST", f"/api/v1/cases/{case_id}/releases", data=form, params=params)
    assert code == 200, body
    request = {
        "provider": "Calmette Hospital",
        "email": "records@calmette.example.com",
        "types": "operative_report",
    }
    code, body = await site.api("POST", f"/api/v1/cases/{case_id}/records/requests", json=request)
    assert code == 200, body

    async def links() -> list[str]:
        return emailed(site.services, case_id, PROVIDER_LINK)

    found = await eventually(links, bool, what=lambda _: "no provider link emailed")
    return site.url + found[-1][found[-1].index("/portal/") :]


def sent(
    csrf: str, record_type: str = "operative_report", language: str = "en", dated: str = ""
) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("csrf", csrf)
    form.add_field("record_type", record_type)
    form.add_field("language", language)
    form.add_field("dated", dated)
    form.add_field(
        "file", b"%PDF-1.4 operative report", filename="operative.pdf", content_type="application/pdf"
    )
    return form


async def test_a_forged_link_is_404_a_bad_upload_is_refused_and_an_ended_request_is_410(site: Site) -> None:
    link = await asked(site, "PROVIDER-1")
    async with aiohttp.ClientSession() as http:
        for forged in (link[:-1] + ("0" if link[-1] != "0" else "1"), link.replace("/1/", "/2/", 1)):
            async with http.get(forged) as page:
                assert page.status == 404
        async with http.get(link) as page:
            assert page.status == 200
            csrf = CSRF.search(await page.text())
        assert csrf
        before = stored_files(site)
        for form, expected in (
            (sent(csrf.group(1), record_type="imaging"), 422),
            (sent(csrf.group(1), dated="2999-01-01"), 422),
            (sent(csrf.group(1), language="xx"), 422),
            (sent(csrf.group(1), language="km-KH"), 422),
            (sent("0" * 64), 403),
        ):
            async with http.post(link + "/records", data=form, allow_redirects=False) as answer:
                assert answer.status == expected, await answer.text()
        assert stored_files(site) == before
        async with http.post(
            link + "/records", data=sent(csrf.group(1), language="km"), allow_redirects=False
        ) as done:
            assert done.status == 303
        async with http.get(link) as page:
            assert page.status == 410
    _, status = await site.api("GET", "/api/v1/cases/PROVIDER-1")
    assert status["gathering"]["requests"][0]["state"] == "received"
    assert status["gathering"]["translations"][0]["language"] == "km"
    _, trail = await site.api("GET", "/api/v1/cases/PROVIDER-1/audit")
    assert ("provider:1", "records.provider_upload", "accepted") in {
        (e["actor"], e["action"], e["outcome"]) for e in trail["events"]
    }


TRANSLATION_LINK = re.compile(r"https?://\S+/portal/translations/\S+")


async def test_a_translator_downloads_the_khmer_original_uploads_the_english_and_the_link_then_ends(
    site: Site,
) -> None:
    case_id = "TRANSLATE-1"
    await site.open_case(case_id)
    form = aiohttp.FormData()
    form.add_field("file", "សេចក្តីសង្ខេប discharge summary".encode(), filename="summary-km.pdf")
    params = {"record_type": "discharge_summary", "language": "km", "dated": str(date.today())}
    code, body = await site.api("POST", f"/api/v1/cases/{case_id}/records", data=form, params=params)
    assert code == 200, body

    async def links() -> list[str]:
        return emailed(site.services, case_id, TRANSLATION_LINK)

    found = await eventually(links, bool, what=lambda _: "no translation link emailed")
    link = site.url + found[-1][found[-1].index("/portal/") :]
    _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
    (item,) = [u for u in status["records_unmet"] if u.startswith("translation:")]
    async with aiohttp.ClientSession() as http:
        async with http.get(link[:-1] + ("0" if link[-1] != "0" else "1")) as page:
            assert page.status == 404
        async with http.get(link) as page:
            assert page.status == 200
            csrf = CSRF.search(await page.text())
        assert csrf
        async with http.get(link + "/original") as original:
            assert original.status == 200
            assert "សេចក្តីសង្ខេប" in (await original.read()).decode()
        english = aiohttp.FormData()
        english.add_field("csrf", csrf.group(1))
        english.add_field("file", b"discharge summary (English)", filename="summary-en.pdf")
        async with http.post(link, data=english) as done:
            assert done.status == 200, await done.text()
        async with http.get(link) as page:
            assert page.status == 410
    _, status = await site.api("GET", f"/api/v1/cases/{case_id}")
    assert item not in status["records_unmet"]
    (task,) = status["gathering"]["translations"]
    assert task["translation_doc_id"] is not None


async def test_a_member_s_upload_says_its_language_and_date_and_a_bad_one_is_refused(site: Site) -> None:
    http, csrf = await signed_in(site, "MEMBER-FACTS-1")
    page = site.url + "/portal/cases/MEMBER-FACTS-1"
    async with http:
        before = stored_files(site)
        for language, dated in (("xx", ""), ("km", "2999-01-01"), ("km", "yesterday")):
            form = aiohttp.FormData()
            for name, value in (
                ("csrf", csrf),
                ("record_type", "discharge_summary"),
                ("language", language),
                ("dated", dated),
            ):
                form.add_field(name, value)
            form.add_field(
                "file", b"%PDF-1.4 summary", filename="summary.pdf", content_type="application/pdf"
            )
            async with http.post(page + "/records", data=form, allow_redirects=False) as refused:
                assert refused.status == 422, await refused.text()
        assert stored_files(site) == before
        form = aiohttp.FormData()
        for name, value in (
            ("csrf", csrf),
            ("record_type", "discharge_summary"),
            ("language", "km"),
            ("dated", str(date.today())),
        ):
            form.add_field(name, value)
        form.add_field("file", b"%PDF-1.4 summary", filename="summary.pdf", content_type="application/pdf")
        async with http.post(page + "/records", data=form, allow_redirects=False) as sent:
            assert sent.status == 303
    _, status = await site.api("GET", "/api/v1/cases/MEMBER-FACTS-1")
    assert [t["language"] for t in status["gathering"]["translations"]] == ["km"]
