"""A member's uploads: the program's cap, file names, a 2 GB file in bounded memory, no PHI leaks,
and every download saved with the type its document came with, under the name it came with for
that case's member (never another case's), and for its specialist only where the program shows
them the member's name."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp.multipart import content_disposition_filename, parse_content_disposition

from runtime.documents import extension_for
from tests.portal.conftest import MEMBER, Site
from tests.portal.test_link_rights import links_of
from tests.portal.test_portal_sign_in import jar, sign_in
from tests.streaming import BLOCK, GeneratedUpload, PeakRss

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
KHMER_SCAN = "ស្កេន\u200bសួត.png"  # "lung scan", with the zero-width space Khmer writes between words
REPORT_NAME = "Second opinion ឯកសារ.pdf"
TWO_GB = 2 * 10**9 // BLOCK * BLOCK
RSS_BUDGET = 64 << 20


def stored_files(site: Site) -> set[Path]:
    return {p for p in site.services.store.root.rglob("*") if p.is_file()}


async def signed_in(site: Site, case_id: str, **open_kw: str) -> tuple[aiohttp.ClientSession, str]:
    await site.open_case(case_id, **open_kw)
    http = jar()
    resp = await sign_in(http, await site.sign_in_link(case_id))
    assert resp.status == 303
    page = site.url + f"/portal/cases/{case_id}"
    async with http.get(page) as resp:
        match = CSRF.search(await resp.text())
    assert match
    return http, match.group(1)


def upload_form(csrf: str, files: dict[str, bytes], record_type: str = "lab_result") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("csrf", csrf)
    form.add_field("record_type", record_type)
    for name, content in files.items():
        form.add_field("file", content, filename=name, content_type="application/pdf")
    return form


async def test_the_21st_document_is_refused_and_nothing_of_it_is_stored(site: Site) -> None:
    http, csrf = await signed_in(site, "CAP-1", program="assist-america")
    async with http:
        page = site.url + "/portal/cases/CAP-1"
        twenty = {f"scan-{i}.pdf": f"synthetic record {i}".encode() for i in range(20)}
        resp = await http.post(page + "/records", data=upload_form(csrf, twenty), allow_redirects=False)
        assert resp.status == 303, await resp.text()
        before = stored_files(site)
        resp = await http.post(
            page + "/records", data=upload_form(csrf, {"one-more.pdf": b"the 21st"}), allow_redirects=False
        )
        assert resp.status == 422
        assert "up to 20 documents" in await resp.text()
    assert stored_files(site) == before
    _, status = await site.api("GET", "/api/v1/cases/CAP-1")
    assert status["records"]["documents"] == 20


def by_hand(
    csrf: str, name: str, content: bytes = b"synthetic", record_type: str = "lab_result"
) -> tuple[bytes, dict[str, str]]:
    """An upload written by hand: a browser sends a name in raw UTF-8, and an attacker unescaped."""
    boundary = "namecheck"
    raw = b"".join(
        [
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'.encode(),
            f'--{boundary}\r\nContent-Disposition: form-data; name="record_type"\r\n\r\n'
            f"{record_type}\r\n".encode(),
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
            + name.encode()
            + b'"\r\nContent-Type: application/pdf\r\n\r\n'
            + content
            + b"\r\n",
            f"--{boundary}--\r\n".encode(),
        ]
    )
    return raw, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "a/b.pdf", "..\\windows.pdf", "nul\x00.pdf", "a%2Fb.pdf", "%2e%2e", "a%0d%0ab.pdf"],
)
async def test_a_file_name_with_path_characters_is_refused_and_nothing_is_stored(
    site: Site, name: str
) -> None:
    http, csrf = await signed_in(site, "NAME-1", program="assist-america")
    raw, headers = by_hand(csrf, name)
    async with http:
        before = stored_files(site)
        resp = await http.post(
            site.url + "/portal/cases/NAME-1/records", data=raw, headers=headers, allow_redirects=False
        )
        assert resp.status == 422
        # A NUL never gets past the multipart parser; the rest reach the name check.
        assert re.search("file name cannot be used|upload was malformed", await resp.text())
    assert stored_files(site) == before


async def test_a_two_gigabyte_upload_streams_into_the_store_with_server_memory_under_64_mb(
    site: Site,
) -> None:
    http, csrf = await signed_in(site, "BIG-1", program="assist-america")
    upload = GeneratedUpload(
        TWO_GB, filename="ct.dcm", boundary="portalbulk", fields=[("csrf", csrf), ("record_type", "imaging")]
    )
    started = time.monotonic()
    async with http, PeakRss() as memory:
        resp = await http.post(
            site.url + "/portal/cases/BIG-1/records",
            data=upload.body(),
            headers={"Content-Type": upload.content_type},
            allow_redirects=False,
        )
        assert resp.status == 303, await resp.text()
    elapsed = time.monotonic() - started
    growth = memory.growth
    print(f"\n2 GB portal upload: {elapsed:.1f}s, RSS growth {growth / 1e6:.1f} MB")
    assert growth < RSS_BUDGET, f"server memory grew by {growth / 1e6:.0f} MB for a 2 GB upload"
    assert site.services.store.exists("BIG-1", upload.digest.hexdigest())
    assert not any((site.services.store.root / "tmp").iterdir())


async def test_no_phi_reaches_a_url_a_log_line_or_an_error_page(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    phi = [MEMBER["patient_name"], MEMBER["date_of_birth"], MEMBER["email"], MEMBER["diagnosis_text"]]
    wrong_dob, new_email = "1971-03-04", "new.address@example.com"
    seen: list[str] = []
    await site.open_case("PHI-1", program="assist-america")
    link = await site.sign_in_link("PHI-1")
    async with jar() as http:
        bad = await sign_in(http, link, wrong_dob)
        pages = [await bad.text()]
        resp = await sign_in(http, link)
        seen += [link, resp.headers["Location"]]
        page = site.url + resp.headers["Location"]
        async with http.get(page) as got:
            csrf_match = CSRF.search(await got.text())
            seen.append(str(got.url))
        assert csrf_match
        csrf = csrf_match.group(1)
        refused = await http.post(page + "/contact", data={"csrf": csrf, "email": "not-an-email"})
        pages.append(await refused.text())
        assert refused.status == 422
        changed = await http.post(page + "/contact", data={"csrf": csrf, "email": new_email, "phone": "012"})
        seen += [str(h.url) for h in changed.history] + [str(changed.url)]
        pages.append(await changed.text())
        async with http.get(site.url + "/portal/cases/PHI-1/reports/" + "0" * 64) as missing:
            pages.append(await missing.text())
    # aiosmtpd (the test's mail server, "mail.log") logs what it receives: mail is the place for it.
    logs = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail"))
    for value in [*phi, wrong_dob, new_email, "not-an-email"]:
        assert all(value not in url for url in seen), value
        assert value not in logs, value
        assert all(value not in html for html in pages[:2] + pages[3:]), value
    # The member's own case page shows no PHI either (the form fields start empty).
    assert all(value not in pages[2] for value in phi)


async def saved_as(http: aiohttp.ClientSession, url: str) -> tuple[str | None, str]:
    """The name a browser saves a download under (RFC 6266), and its media type."""
    async with http.get(url) as resp:
        assert resp.status == 200, await resp.text()
        await resp.read()
        disposition, params = parse_content_disposition(resp.headers["Content-Disposition"])
        assert disposition == "attachment" and resp.headers["X-Content-Type-Options"] == "nosniff"
        return content_disposition_filename(params), resp.headers["Content-Type"]


def doc_of(url: str) -> str:
    return url.split("?")[0][-64:]


def ours(case_id: str, url: str, width: int, media_type: str) -> str:
    """The name of ours a download of `url` is saved under: the case, the document's id cut to
    `width` (the emailed link's 12, the page's 8), the stored type's extension."""
    return f"{case_id}-{doc_of(url)[:width]}.{extension_for(media_type)}"


async def test_records_and_the_report_download_under_the_names_they_came_with(
    site: Site, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    case = "NAMES-1"
    # Another case's desk sent these bytes first, named after its member: a document of that
    # case only, and the same bytes sent for this one are this case's own, under its own name.
    shared, other_name = b"%PDF-1.4 synthetic shared scan", "Dara Keo - scan.pdf"
    await site.open_case("NAMES-0", program="assist-america")
    form = aiohttp.FormData()
    form.add_field("file", shared, filename=other_name)
    code, body = await site.api("POST", "/api/v1/cases/NAMES-0/records?record_type=lab_result", data=form)
    assert code == 200, body
    shared_id = hashlib.sha256(shared).hexdigest()
    sealed = site.services.store.describe("NAMES-0", shared_id)
    assert sealed is not None and (sealed.name, sealed.case_id) == (other_name, "NAMES-0")
    assert not site.services.store.exists(case, shared_id)
    http, csrf = await signed_in(site, case, program="assist-america")
    await site.attest_consent(case)
    async with http:
        page = site.url + f"/portal/cases/{case}"
        # The program's two required records. Two dots inside a name are an ordinary name
        # (aiohttp %-escapes the name it sends).
        form = upload_form(csrf, {"biopsy..v2.pdf": b"synthetic summary"}, "discharge_summary")
        resp = await http.post(page + "/records", data=form, allow_redirects=False)
        assert resp.status == 303, await resp.text()
        # A Khmer name as a browser sends it: raw UTF-8.
        raw, headers = by_hand(csrf, KHMER_SCAN, b"synthetic plan", "treatment_plan")
        resp = await http.post(page + "/records", data=raw, headers=headers, allow_redirects=False)
        assert resp.status == 303, await resp.text()
        # The bytes the other case sent first, under this member's own name.
        form = upload_form(csrf, {"my scan.pdf": shared})
        resp = await http.post(page + "/records", data=form, allow_redirects=False)
        assert resp.status == 303, await resp.text()
        ours_sealed = site.services.store.describe(case, shared_id)
        assert ours_sealed is not None and (ours_sealed.name, ours_sealed.case_id) == ("my scan.pdf", case)
        theirs_sealed = site.services.store.describe("NAMES-0", shared_id)
        assert theirs_sealed is not None and theirs_sealed.name == other_name
        code, body = await site.api("POST", f"/api/v1/cases/{case}/records/complete", json={})
        assert code == 200, body

        # The specialist's emailed record links, and the same records from their assignment
        # page: the program hides the member's name, so no name the member gave either.
        links = await links_of(site, case, **{"for": "assignment"})
        async with http.get(await site.assignment_link(case)) as got:
            on_page = re.findall(r'href="([^"]*/records/[0-9a-f]{64})"', await got.text())
        hrefs = [site.url + href for href in on_page]
        assert {doc_of(u) for u in links} == {doc_of(u) for u in hrefs} and len(links) == 3
        for urls, width in [(links, 12), (hrefs, 8)]:
            for url in urls:
                name, kind = await saved_as(http, url)
                assert name == ours(case, url, width, kind), (name, kind)
                assert kind == ("image/png" if name.endswith(".png") else "application/pdf")
        # A program whose specialists see the member's name shows them the names of this case's
        # uploads; the bytes another case sent first carry this member's name, never that case's.
        named = site.services.programs["assist-america"].model_copy(update={"specialist_sees_name": True})
        monkeypatch.setitem(site.services.programs, "assist-america", named)
        for urls in (links, hrefs):
            shown = {await saved_as(http, url): url for url in urls}
            assert {("biopsy..v2.pdf", "application/pdf"), (KHMER_SCAN, "image/png")} <= set(shown)
            (url,) = [u for u in urls if doc_of(u) == shared_id]
            assert await saved_as(http, url) == ("my scan.pdf", "application/pdf")

        # The report: the member's emailed link and their case page's download.
        _, status = await site.api("GET", f"/api/v1/cases/{case}")
        form = aiohttp.FormData()
        form.add_field("file", b"%PDF-1.4 synthetic second opinion", filename=REPORT_NAME)
        code, body = await site.api(
            "POST", f"/api/v1/cases/{case}/report?specialist_id={status['specialist_id']}", data=form
        )
        assert code == 200, body
        await site.stage(case, "REPORT_DELIVERED", "CONSULT")
        (link,) = await links_of(site, case, **{"for": "member"})
        assert await saved_as(http, link) == (REPORT_NAME, "application/pdf")
        doc = link.split("?")[0].rsplit("/", 1)[1]
        assert await saved_as(http, page + f"/reports/{doc}") == (REPORT_NAME, "application/pdf")
    # The names are in no log line and in no file of the store in clear.
    logs = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail"))
    raw_store = b"".join(p.read_bytes() for p in stored_files(site))
    for name in ("biopsy..v2", KHMER_SCAN, REPORT_NAME, other_name, "my scan.pdf"):
        assert name not in logs, name
        assert name.encode() not in raw_store, name
