"""Form tokens and assignment signatures are compared in constant time, whatever a browser sends."""

from __future__ import annotations

from sqlalchemy import create_engine

from runtime.portal_links import PortalLinks

KEY = b"k" * 32


def links() -> PortalLinks:
    return PortalLinks(create_engine("sqlite://"), KEY, "https://smo.test")


def test_a_form_token_with_non_ascii_characters_is_refused_not_an_error() -> None:
    portal = links()
    good = portal.csrf_token("session-1")
    assert portal.csrf_ok("session-1", good)
    assert not portal.csrf_ok("session-1", good[:-1] + "é")
    assert not portal.csrf_ok("session-1", "ស្វាគមន៍")
    assert not portal.csrf_ok("session-1", "")


def test_an_assignment_signature_with_non_ascii_characters_is_refused_not_an_error() -> None:
    portal = links()
    url = portal.assignment_url("SMO-261206-ABC123", 1, "SP-ONC-001")
    exp, sig = url.rsplit("/", 2)[-2:]
    assert portal.assignment_ok("SMO-261206-ABC123", 1, "SP-ONC-001", int(exp), sig)
    assert not portal.assignment_ok("SMO-261206-ABC123", 2, "SP-ONC-001", int(exp), sig)
    assert not portal.assignment_ok("SMO-261206-ABC123", 1, "SP-ONC-001", int(exp), sig[:-1] + "ü")
