"""The booked consult on the specialist's assignment page, on the real service: its time in the
specialist's zone (CST or CDT) with the desk's, the member's phone to call in that one place,
the slots to move it to in the specialist's zone, cancel, and its outcome once it has started.

And what is refused there, with nothing changed: the link used on another case, a forged CSRF
token, a consult number that is not the booked one, a slot without its offset or outside the
proposals, an outcome before the start, a move or cancel inside the notice.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

import service
from calendars import consult_slots as cs
from service import consults
from tests.portal.conftest import Site
from tests.portal.test_portal_consult_member import middle, offered, part, post, read, status_of, trail
from tests.portal.test_portal_consult_slots import delivered, next_sunday_3am
from web.portal import specialist
from web.portal.specialist import NOT_STARTED, STALE, TOO_LATE, UNCHOSEN

CHICAGO = ZoneInfo("America/Chicago")
PHONE = "+855 12 345 678"


async def booked(site: Site, case_id: str) -> tuple[str, dict[str, Any]]:
    """A case whose member's consult is booked (by the desk, in a proposed slot), and its
    specialist's assignment link."""
    await delivered(site, case_id, phone=PHONE)
    link = await site.assignment_link(case_id)
    _, found = await site.api("GET", f"/api/v1/cases/{case_id}/consults/slots")
    slot = middle([s["start"] for s in found["slots"]])
    code, body = await site.api("POST", f"/api/v1/cases/{case_id}/consults", json={"slot": slot})
    assert code == 200, body
    return link, await status_of(site, case_id)


def later_by(monkeypatch: pytest.MonkeyPatch, hours_before: float) -> None:
    """The slot rule's clock moved on to `hours_before` the booked consult."""
    real = consults.consult_rule

    async def later(*args: Any) -> service.ConsultRule:
        found = await real(*args)
        at = found.status.consult_at
        assert at is not None
        rule = dataclasses.replace(found.rule, now=at - timedelta(hours=hours_before))
        return dataclasses.replace(found, rule=rule)

    monkeypatch.setattr(consults, "consult_rule", later)
    monkeypatch.setattr(service, "consult_rule", later)


async def test_the_specialist_sees_the_consult_in_their_zone_with_the_phone_then_moves_and_cancels_it(
    site: Site,
) -> None:
    link, status = await booked(site, "PSC-1")
    at = datetime.fromisoformat(status["consult_at"]).astimezone(CHICAGO)
    actor = f"specialist:{status['specialist_id']}"
    async with aiohttp.ClientSession() as http:
        page, csrf = await read(http, link)
        shown = re.search(r'<p id="consult-at">.*?</p>', page, re.DOTALL)
        assert shown, page
        assert f"{at:%H:%M} {at.tzname()}" in shown.group(0) and at.tzname() in ("CST", "CDT")
        assert "ICT at the desk" in shown.group(0)
        assert page.count(PHONE) == 1 and f'<strong id="member-phone">{PHONE}</strong>' in page
        choices = offered(page, "consult-move")
        assert choices and all(datetime.fromisoformat(c).tzinfo is not None for c in choices)
        offsets = {datetime.fromisoformat(c).utcoffset() for c in choices}
        assert offsets <= {timedelta(hours=-5), timedelta(hours=-6)}  # Texas time, either side of DST
        assert re.search(r"> \d\d:[03]0 C[SD]T</label>", part(page, "consult-move"))
        assert 'id="consult-outcome"' not in page  # not before it has started

        n = str(status["consult_number"])
        moved = middle(choices)
        code, page = await post(http, link + "/consult/move", {"csrf": csrf, "n": n, "slot": moved})
        assert code == 200 and "The consult is moved" in page, page
        status = await status_of(site, "PSC-1")
        assert datetime.fromisoformat(status["consult_at"]) == datetime.fromisoformat(moved)
        assert status["consult_sequence"] == 1

        code, page = await post(http, link + "/consult/cancel", {"csrf": csrf, "n": n})
        assert code == 200 and "The consult is cancelled" in page, page
        assert 'id="consult-h"' not in page
    assert not (await status_of(site, "PSC-1"))["consult_pending"]
    assert (actor, "accepted") in await trail(site, "PSC-1", "consult.reschedule")
    assert (actor, "accepted") in await trail(site, "PSC-1", "consult.cancel")


async def test_a_specialists_forged_or_stale_consult_forms_are_refused_and_nothing_changes(
    site: Site,
) -> None:
    link, before = await booked(site, "PSC-2")
    other_link, other_before = await booked(site, "PSC-3")
    n = str(before["consult_number"])
    async with aiohttp.ClientSession() as http:
        page, csrf = await read(http, link)
        choices = offered(page, "consult-move")
        moved = middle(choices)
        naive = datetime.fromisoformat(moved).replace(tzinfo=None).isoformat()
        sunday = next_sunday_3am().isoformat()
        # This link's signature opens PSC-2 alone: on PSC-3's path it is no link at all.
        borrowed = link.replace("/PSC-2/", "/PSC-3/")
        for path, data, code, words in [
            ("/consult/move", {"csrf": csrf, "n": str(int(n) + 1), "slot": moved}, 409, STALE),
            ("/consult/cancel", {"csrf": csrf, "n": str(int(n) + 1)}, 409, STALE),
            ("/consult/cancel", {"csrf": csrf, "n": "-1"}, 409, STALE),
            ("/consult/move", {"csrf": csrf, "n": n, "slot": naive}, 422, UNCHOSEN),
            ("/consult/move", {"csrf": csrf, "n": n, "slot": sunday}, 422, cs.SPECIALIST_HOURS),
            ("/consult/move", {"csrf": "0" * 64, "n": n, "slot": moved}, 403, "This form has expired"),
            ("/consult/cancel", {"csrf": "0" * 64, "n": n}, 403, "This form has expired"),
            ("/consult/outcome", {"csrf": csrf, "n": n, "outcome": "done"}, 409, NOT_STARTED),
            ("/consult/outcome", {"csrf": csrf, "n": n, "outcome": "specialist_absent"}, 422, "outcomes"),
        ]:
            got, text = await post(http, link + path, data)
            assert (got, words in text) == (code, True), (path, data, text)
        for path in ("/consult/move", "/consult/cancel", "/consult/outcome"):
            got, _ = await post(
                http, borrowed + path, {"csrf": csrf, "n": "1", "slot": moved, "outcome": "done"}
            )
            assert got == 404, path
        _, other_csrf = await read(http, other_link)
        # PSC-3's own page token does not open PSC-2's forms either.
        got, _ = await post(http, link + "/consult/cancel", {"csrf": other_csrf, "n": n})
        assert got == 403
    for case_id, was in (("PSC-2", before), ("PSC-3", other_before)):
        now = await status_of(site, case_id)
        for field in ("consult_pending", "consult_at", "consult_sequence", "consults_completed"):
            assert now[field] == was[field], (case_id, field)
    actor = f"specialist:{before['specialist_id']}"
    assert (actor, "refused") in await trail(site, "PSC-2", "consult.reschedule")
    assert (actor, "refused") in await trail(site, "PSC-2", "consult.complete")


async def test_inside_the_notice_the_specialist_asks_the_desk_and_after_the_start_tells_the_outcome(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    link, before = await booked(site, "PSC-4")
    n = str(before["consult_number"])
    at = datetime.fromisoformat(before["consult_at"])
    async with aiohttp.ClientSession() as http:
        _, csrf = await read(http, link)  # the link's token, from the page's cancel form
        later_by(monkeypatch, 2)
        async with http.get(link) as resp:
            page = await resp.text()
        assert 'id="consult-too-late"' in page
        assert 'id="consult-move"' not in page and 'id="consult-cancel"' not in page
        got, text = await post(http, link + "/consult/cancel", {"csrf": csrf, "n": n})
        assert (got, TOO_LATE in text) == (409, True), text
        assert (await status_of(site, "PSC-4"))["consult_pending"]

        # Ten minutes after its start, by the portal's clock: the page asks how it went.
        monkeypatch.setattr(specialist, "_now", lambda: at + timedelta(minutes=10))
        page, csrf = await read(http, link)
        outcome = part(page, "consult-outcome")
        assert 'value="done"' in outcome and 'value="member_absent"' in outcome
        code, page = await post(http, link + "/consult/outcome", {"csrf": csrf, "n": n, "outcome": "done"})
        assert code == 200 and "recorded as held" in page, page
    after = await status_of(site, "PSC-4")
    assert not after["consult_pending"] and after["consults_completed"] == 1
    actor = f"specialist:{before['specialist_id']}"
    assert (actor, "accepted") in await trail(site, "PSC-4", "consult.complete")
    assert (actor, "refused") in await trail(site, "PSC-4", "consult.cancel")
