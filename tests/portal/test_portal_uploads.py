"""A member's uploads: the program's cap, file names, a 2 GB file in bounded memory, and no PHI leaks."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import aiohttp
import pytest

from tests.portal.conftest import MEMBER, Site
from tests.portal.test_portal_sign_in import jar, sign_in
from tests.streaming import BLOCK, GeneratedUpload, PeakRss

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
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


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "a/b.pdf", "..\\windows.pdf", "nul\x00.pdf", "a%2Fb.pdf"]
)
async def test_a_file_name_with_path_characters_is_refused_and_nothing_is_stored(
    site: Site, name: str
) -> None:
    http, csrf = await signed_in(site, "NAME-1", program="assist-america")
    boundary = "namecheck"
    # Written by hand: a client library would escape the name, an attacker does not.
    raw = b"".join(
        [
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'.encode(),
            f'--{boundary}\r\nContent-Disposition: form-data; name="record_type"\r\n\r\n'
            "lab_result\r\n".encode(),
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
            + name.encode()
            + b'"\r\nContent-Type: application/pdf\r\n\r\nsynthetic\r\n',
            f"--{boundary}--\r\n".encode(),
        ]
    )
    async with http:
        before = stored_files(site)
        resp = await http.post(
            site.url + "/portal/cases/NAME-1/records",
            data=raw,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            allow_redirects=False,
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
    assert site.services.store.exists(upload.digest.hexdigest())
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
