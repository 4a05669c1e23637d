"""Booking a proposed consult slot through the API sends each side a calendar invitation whose
DTSTART is that slot (the issue's check, on the dev server)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from icalendar import Calendar, Event

from runtime.outbox import read_outbox
from tests.api.conftest import MEMBER, LiveApi
from tests.api.test_api_consult_slots import delivered
from tests.polling import eventually


def invitations(outbox: Path) -> dict[str, EmailMessage]:
    """The consult invitations in the outbox, by recipient."""
    return {str(m["To"]): m for m in read_outbox(outbox) if ":consult_booked:" in str(m["X-SMO-Notice-Id"])}


def dtstart_utc(msg: EmailMessage) -> datetime:
    (part,) = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    (event,) = Calendar.from_ical(part.get_content()).walk("VEVENT")
    assert isinstance(event, Event)
    start = event.DTSTART
    assert isinstance(start, datetime)
    return start.astimezone(UTC)


async def test_booking_the_first_slot_sends_both_sides_an_invitation_for_that_slot(
    live_api: LiveApi,
) -> None:
    token = live_api.token("chenda")
    await delivered(live_api, token, "INVITE-1")
    _, found, _ = await live_api.call("GET", "/api/v1/cases/INVITE-1/consults/slots", token)
    slot = found["slots"][0]["start"]
    code, body, _ = await live_api.call("POST", "/api/v1/cases/INVITE-1/consults", token, json={"slot": slot})
    assert code == 200, body
    outbox = Path(live_api.services.settings.outbox_dir)

    async def sent() -> dict[str, EmailMessage]:
        return invitations(outbox)

    both = await eventually(sent, lambda found: len(found) == 2, what=lambda f: f"invitations to {list(f)}")
    member = both.pop(MEMBER["email"])
    assert dtstart_utc(member) == datetime.fromisoformat(slot).astimezone(UTC)
    (specialist,) = both.values()
    assert dtstart_utc(specialist) == dtstart_utc(member)
