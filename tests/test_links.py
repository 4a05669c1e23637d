"""Scenarios for signed, expiring report links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from security.links import LinkError, LinkExpired, LinkInvalid, LinkSigner

SECRET = b"s" * 32
NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def _parts(url: str) -> tuple[str, str, str, str]:
    split = urlsplit(url)
    _, _, case_id, doc_id = split.path.rsplit("/", 3)
    query = parse_qs(split.query)
    return unquote(case_id), unquote(doc_id), query["exp"][0], query["sig"][0]


@pytest.fixture
def signer() -> LinkSigner:
    return LinkSigner(SECRET, "https://smo.example.org/")


def test_valid_link_verifies(signer: LinkSigner) -> None:
    url = signer.sign("case-42", "report-7", NOW + timedelta(days=7))
    assert url.startswith("https://smo.example.org/reports/case-42/report-7?exp=")
    case_id, doc_id, exp, sig = _parts(url)
    assert exp == str(int((NOW + timedelta(days=7)).timestamp()))
    signer.verify(case_id, doc_id, exp, sig, now=NOW)


def test_expired_link_is_refused_as_expired(signer: LinkSigner) -> None:
    url = signer.sign("case-42", "report-7", NOW + timedelta(hours=1))
    case_id, doc_id, exp, sig = _parts(url)
    signer.verify(case_id, doc_id, exp, sig, now=NOW + timedelta(minutes=59))
    with pytest.raises(LinkExpired):
        signer.verify(case_id, doc_id, exp, sig, now=NOW + timedelta(hours=1))


def test_tampered_signature_is_invalid(signer: LinkSigner) -> None:
    case_id, doc_id, exp, sig = _parts(
        signer.sign("case-42", "report-7", NOW + timedelta(days=1))
    )
    forged = ("0" if sig[0] != "0" else "1") + sig[1:]
    with pytest.raises(LinkInvalid):
        signer.verify(case_id, doc_id, exp, forged, now=NOW)
    with pytest.raises(LinkInvalid, match="malformed"):
        signer.verify(case_id, doc_id, exp, "zz", now=NOW)


def test_tampered_document_id_is_invalid(signer: LinkSigner) -> None:
    case_id, _, exp, sig = _parts(
        signer.sign("case-42", "report-7", NOW + timedelta(days=1))
    )
    with pytest.raises(LinkInvalid):
        signer.verify(case_id, "report-8", exp, sig, now=NOW)
    with pytest.raises(LinkInvalid):
        signer.verify("case-43", "report-7", exp, sig, now=NOW)


def test_extended_expiry_is_invalid_not_expired(signer: LinkSigner) -> None:
    case_id, doc_id, exp, sig = _parts(
        signer.sign("case-42", "report-7", NOW - timedelta(days=1))
    )
    later = str(int(exp) + 86400 * 30)
    with pytest.raises(LinkInvalid):
        signer.verify(case_id, doc_id, later, sig, now=NOW)
    with pytest.raises(LinkInvalid, match="malformed"):
        signer.verify(case_id, doc_id, " " + exp, sig, now=NOW)


def test_link_from_another_secret_is_invalid(signer: LinkSigner) -> None:
    other = LinkSigner(b"o" * 32, "https://smo.example.org")
    case_id, doc_id, exp, sig = _parts(
        other.sign("case-42", "report-7", NOW + timedelta(days=1))
    )
    with pytest.raises(LinkError):
        signer.verify(case_id, doc_id, exp, sig, now=NOW)


def test_ids_are_url_quoted_and_fields_cannot_be_shifted(signer: LinkSigner) -> None:
    url = signer.sign("a/b", "c", NOW + timedelta(days=1))
    assert "/reports/a%2Fb/c?" in url
    case_id, doc_id, exp, sig = _parts(url)
    assert (case_id, doc_id) == ("a/b", "c")
    signer.verify(case_id, doc_id, exp, sig, now=NOW)
    with pytest.raises(LinkInvalid):
        signer.verify("a", "b/c", exp, sig, now=NOW)


def test_naive_datetimes_and_short_secrets_are_rejected(signer: LinkSigner) -> None:
    with pytest.raises(ValueError, match="timezone"):
        signer.sign("c", "d", datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="at least 32"):
        LinkSigner(b"short", "https://x")
    assert "s" * 32 not in repr(signer)
