"""Scenarios for signed, expiring document links that name the right they carry, and what a
download through one is saved as."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import aiohttp
import pytest
from aiohttp.multipart import content_disposition_filename, parse_content_disposition
from temporalio.testing import ActivityEnvironment

from activities.retention import RetentionActivities
from models.retention import EraseCase
from runtime.db import audit_trail
from security.links import LinkError, LinkExpired, LinkInvalid, LinkSigner, LinkWithoutRight, Right
from tests.retention_seed import seed_case, years_ago
from tests.test_web import REPORT, local, portal, registered_report
from worker import Services

__all__ = ["portal"]  # the service's web app with its document links (tests/test_web.py), a fixture

SECRET = b"s" * 32
NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
MEMBER = Right.member()
ASSIGNMENT = Right.assignment(2, "SP-ONC-001")


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _parts(url: str) -> tuple[str, str, str, str]:
    split = urlsplit(url)
    _, _, case_id, doc_id = split.path.rsplit("/", 3)
    query = _query(url)
    return unquote(case_id), unquote(doc_id), query["exp"], query["sig"]


@pytest.fixture
def signer() -> LinkSigner:
    return LinkSigner(SECRET, "https://smo.example.org/")


def test_valid_link_verifies(signer: LinkSigner) -> None:
    url = signer.sign("case-42", "report-7", MEMBER, NOW + timedelta(days=7))
    assert url.startswith("https://smo.example.org/reports/case-42/report-7?for=member&exp=")
    case_id, doc_id, exp, sig = _parts(url)
    assert exp == str(int((NOW + timedelta(days=7)).timestamp()))
    signer.verify(case_id, doc_id, MEMBER, exp, sig, now=NOW)


def test_expired_link_is_refused_as_expired(signer: LinkSigner) -> None:
    url = signer.sign("case-42", "report-7", MEMBER, NOW + timedelta(hours=1))
    case_id, doc_id, exp, sig = _parts(url)
    signer.verify(case_id, doc_id, MEMBER, exp, sig, now=NOW + timedelta(minutes=59))
    with pytest.raises(LinkExpired):
        signer.verify(case_id, doc_id, MEMBER, exp, sig, now=NOW + timedelta(hours=1))


def test_tampered_signature_is_invalid(signer: LinkSigner) -> None:
    case_id, doc_id, exp, sig = _parts(signer.sign("case-42", "report-7", MEMBER, NOW + timedelta(days=1)))
    forged = ("0" if sig[0] != "0" else "1") + sig[1:]
    with pytest.raises(LinkInvalid):
        signer.verify(case_id, doc_id, MEMBER, exp, forged, now=NOW)
    with pytest.raises(LinkInvalid, match="malformed"):
        signer.verify(case_id, doc_id, MEMBER, exp, "zz", now=NOW)


def test_tampered_document_id_is_invalid(signer: LinkSigner) -> None:
    case_id, _, exp, sig = _parts(signer.sign("case-42", "report-7", MEMBER, NOW + timedelta(days=1)))
    with pytest.raises(LinkInvalid):
        signer.verify(case_id, "report-8", MEMBER, exp, sig, now=NOW)
    with pytest.raises(LinkInvalid):
        signer.verify("case-43", "report-7", MEMBER, exp, sig, now=NOW)


def test_extended_expiry_is_invalid_not_expired(signer: LinkSigner) -> None:
    case_id, doc_id, exp, sig = _parts(signer.sign("case-42", "report-7", MEMBER, NOW - timedelta(days=1)))
    later = str(int(exp) + 86400 * 30)
    with pytest.raises(LinkInvalid):
        signer.verify(case_id, doc_id, MEMBER, later, sig, now=NOW)
    with pytest.raises(LinkInvalid, match="malformed"):
        signer.verify(case_id, doc_id, MEMBER, " " + exp, sig, now=NOW)


def test_link_from_another_secret_is_invalid(signer: LinkSigner) -> None:
    other = LinkSigner(b"o" * 32, "https://smo.example.org")
    case_id, doc_id, exp, sig = _parts(other.sign("case-42", "report-7", MEMBER, NOW + timedelta(days=1)))
    with pytest.raises(LinkError):
        signer.verify(case_id, doc_id, MEMBER, exp, sig, now=NOW)


def test_ids_are_url_quoted_and_fields_cannot_be_shifted(signer: LinkSigner) -> None:
    url = signer.sign("a/b", "c", MEMBER, NOW + timedelta(days=1))
    assert "/reports/a%2Fb/c?" in url
    case_id, doc_id, exp, sig = _parts(url)
    assert (case_id, doc_id) == ("a/b", "c")
    signer.verify(case_id, doc_id, MEMBER, exp, sig, now=NOW)
    with pytest.raises(LinkInvalid):
        signer.verify("a", "b/c", MEMBER, exp, sig, now=NOW)


def test_naive_datetimes_and_short_secrets_are_rejected(signer: LinkSigner) -> None:
    with pytest.raises(ValueError, match="timezone"):
        signer.sign("c", "d", MEMBER, datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="at least 32"):
        LinkSigner(b"short", "https://x")
    assert "s" * 32 not in repr(signer)


def test_a_link_names_its_right_and_the_right_cannot_be_swapped(signer: LinkSigner) -> None:
    url = signer.sign("case-42", "record-1", ASSIGNMENT, NOW + timedelta(days=1))
    query = _query(url)
    assert (query["for"], query["n"], query["sp"]) == ("assignment", "2", "SP-ONC-001")
    right = Right.from_query(query)
    assert right == ASSIGNMENT
    case_id, doc_id, exp, sig = _parts(url)
    signer.verify(case_id, doc_id, right, exp, sig, now=NOW)
    # The same signature under another right: another assignment, another specialist, the member.
    for other in (Right.assignment(3, "SP-ONC-001"), Right.assignment(2, "SP-ONC-002"), MEMBER):
        with pytest.raises(LinkInvalid):
            signer.verify(case_id, doc_id, other, exp, sig, now=NOW)


def test_a_malformed_right_is_invalid_and_a_missing_one_is_none() -> None:
    assert Right.from_query({"exp": "1", "sig": "0"}) is None
    assert Right.from_query({"for": "member"}) == MEMBER
    for bad in (
        {"for": "coordinator"},
        {"for": "assignment", "n": "0", "sp": "SP-1"},
        {"for": "assignment", "n": "2", "sp": ""},
        {"for": "assignment", "n": "2", "sp": "SP 1"},
        {"for": "assignment", "n": "2", "sp": "SP-1\n"},
        {"for": "assignment", "n": "²", "sp": "SP-1"},
    ):
        with pytest.raises(LinkInvalid):
            Right.from_query(bad)
    with pytest.raises(ValueError):
        Right.assignment(0, "SP-1")


def test_a_genuine_link_from_before_rights_opens_nothing_and_says_so(signer: LinkSigner) -> None:
    # Version 1 signed (case, doc, exp) alone: the links already in members' inboxes.
    import hashlib
    import hmac
    import json

    exp = str(int((NOW + timedelta(days=1)).timestamp()))
    message = json.dumps(["smo-report-link/v1", "case-42", "report-7", exp]).encode()
    sig = hmac.new(SECRET, message, hashlib.sha256).hexdigest()
    with pytest.raises(LinkWithoutRight):
        signer.verify("case-42", "report-7", None, exp, sig, now=NOW)
    with pytest.raises(LinkInvalid):  # nor is it a member's link
        signer.verify("case-42", "report-7", MEMBER, exp, sig, now=NOW)
    with pytest.raises(LinkExpired):
        signer.verify("case-42", "report-7", None, exp, sig, now=NOW + timedelta(days=2))


def test_a_specialists_notice_names_the_assignment_its_links_carry() -> None:
    from activities.notices import assignment_no_of
    from models.notices import Notice, NoticeKind

    def notice(notice_id: str) -> Notice:
        return Notice(notice_id=notice_id, case_id="KH-1", kind=NoticeKind.INFO_SUPPLIED)

    assert assignment_no_of(notice("KH-1:records_to_specialist:3")) == 3
    assert assignment_no_of(notice("KH-1:info_supplied:2-1")) == 2
    assert assignment_no_of(notice("KH-1:sla_warning:x")) is None
    assert assignment_no_of(notice("KH-1:records_to_specialist:²")) is None


# ---- the links as a member or a specialist uses them: the document's own name, their language ----


@pytest.mark.parametrize(
    ("name", "came_for", "saved_as", "media_type"),
    [
        ("Second opinion ឯកសារ.pdf", "LINK-NAME-1", "Second opinion ឯកសារ.pdf", "application/pdf"),
        # The same bytes came for another case under a name: that copy and its name are its own.
        ("Second opinion ឯកសារ.pdf", "LINK-OTHER-1", "LINK-NAME-1-{doc}", "application/octet-stream"),
        (None, None, "LINK-NAME-1-{doc}", "application/octet-stream"),  # stored before names were kept
    ],
)
async def test_the_emailed_report_link_saves_the_report_under_its_own_name(
    portal: str, services: Services, name: str | None, came_for: str | None, saved_as: str, media_type: str
) -> None:
    if name is not None and came_for is not None:  # the report as its uploader named it, for its case
        services.store.put(io.BytesIO(REPORT), came_for, name)
    doc_id = registered_report(services, "LINK-NAME-1")
    url = services.signer.sign("LINK-NAME-1", doc_id, MEMBER, datetime.now(UTC) + timedelta(hours=1))
    async with aiohttp.ClientSession() as http, http.get(local(url, portal)) as resp:
        assert resp.status == 200
        assert await resp.read() == REPORT
        headers = resp.headers
    disposition, params = parse_content_disposition(headers["Content-Disposition"])
    assert disposition == "attachment"
    assert content_disposition_filename(params) == saved_as.format(doc=doc_id[:12])
    assert (headers["Content-Type"], headers["X-Content-Type-Options"]) == (media_type, "nosniff")
    # The name is the member's: it is in no URL and on no audit line.
    trail = " ".join(f"{e.detail} {e.outcome}" for e in audit_trail(services.engine, "LINK-NAME-1"))
    assert "ឯកសារ" not in trail + url and "Second opinion" not in trail + url


async def test_a_dead_link_answers_the_member_in_their_language_and_the_specialist_in_english(
    portal: str, services: Services
) -> None:
    doc_id = registered_report(services, "LINK-LANG-1")
    past = datetime.now(UTC) - timedelta(minutes=1)
    member = local(services.signer.sign("LINK-LANG-1", doc_id, MEMBER, past), portal)
    specialist = local(services.signer.sign("LINK-LANG-1", doc_id, ASSIGNMENT, past), portal)
    async with aiohttp.ClientSession() as http:
        for url, asked, lang in [
            (member + "&lang=km", {}, "km"),
            (member, {"Accept-Language": "km-KH,km;q=0.9,en;q=0.5"}, "km"),
            (member, {}, "en"),
            (specialist + "&lang=km", {"Accept-Language": "km"}, "en"),
        ]:
            async with http.get(url, headers=asked) as resp:
                assert resp.status == 410
                assert f'<html lang="{lang}">' in await resp.text(), (url, asked)


async def test_a_report_link_of_an_erased_case_answers_that_its_documents_were_erased(
    portal: str, services: Services
) -> None:
    """Still signed and unexpired, but the case was erased since: 410, in the member's language."""
    seed_case(services.engine, services.store, "LINK-ERASED-1", closed=years_ago(1), documents=1)
    doc_id = registered_report(services, "LINK-ERASED-1")
    url = services.signer.sign("LINK-ERASED-1", doc_id, MEMBER, datetime.now(UTC) + timedelta(hours=1))
    retention = RetentionActivities(services.store, services.engine, services.programs)
    why = EraseCase(case_id="LINK-ERASED-1", how="erased", reason="the member asked", by="supervisor-ana")
    await ActivityEnvironment().run(retention.erase_case, why)
    async with aiohttp.ClientSession() as http:
        for lang, words in (("en", "were erased"), ("km", "លុបចោល")):
            async with http.get(local(url, portal) + f"&lang={lang}") as resp:
                page = await resp.text()
                assert resp.status == 410 and words in page, (lang, page[:300])
                assert REPORT.decode(errors="ignore")[:20] not in page
