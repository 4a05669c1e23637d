"""A refusal in two edges: the API's JSON keeps the English filled in, the portal's page says it in
the reader's language, with the way back and the desk. Rendered without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runtime import i18n
from runtime.i18n import Language
from web.errors import WebError
from web.portal.base import Desk
from web.portal.pages import Back, render
from web.portal.ratelimit import TooManyRequests

NOW = datetime(2026, 4, 14, 10, 0, tzinfo=UTC)  # 17:00 ICT


def test_a_refusal_with_values_is_filled_in_for_the_api_and_kept_apart_for_the_page() -> None:
    refused = WebError(409, "Your case has %(n)s documents.", n=3)
    assert (refused.status, refused.message, str(refused)) == (
        409,
        "Your case has 3 documents.",
        refused.message,
    )
    assert (refused.template, refused.values) == ("Your case has %(n)s documents.", {"n": 3})
    plain = WebError(404, "100% gone")  # no values: the sentence is taken as it is
    assert plain.message == plain.template == "100% gone"


def test_too_many_requests_says_when_in_the_members_clock() -> None:
    soon = TooManyRequests(timedelta(seconds=170), NOW)
    assert soon.message == "Too many attempts. Please try again after 17:03 ICT (in about 3 minutes)."
    assert soon.headers == {"Retry-After": "170"}
    assert TooManyRequests(timedelta(seconds=20), NOW).message.endswith("17:01 ICT (in about a minute).")
    assert TooManyRequests(timedelta(hours=2), NOW).message.endswith("19:00 ICT (in about 2 hours).")


def test_the_error_page_is_in_the_readers_language_and_leads_back() -> None:
    back = Back("/portal/cases/SMO-1", "Back to your case")
    for language in Language:
        with i18n.using(language):
            page = render("error.html", 403, message="m", back=back, desk=Desk("desk@example.org", "+855 1"))
        assert page.status == 403 and page.text is not None
        assert f'<html lang="{language.value}">' in page.text
        assert page.headers["Content-Language"] == language.value
        assert 'id="back" href="/portal/cases/SMO-1"' in page.text and "desk@example.org" in page.text
