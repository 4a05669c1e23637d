"""The iCalendar invitation a booked consult's email carries to each side (`icalendar`).

One `METHOD:REQUEST` with one VEVENT: the same UID for every message about the same consult
(`<case_id>-consult-<n>@smo-orchestrator`), so a calendar files a resend, or a later change,
as the same event. The times are in the reader's own zone (the member's ICT, the specialist's
roster zone), each with its VTIMEZONE, so a calendar shows them right whatever its own zone.

The SUMMARY shows in notification previews: it names neither the member nor the condition.
The DESCRIPTION says who calls whom; only the specialist's says the member's number.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from icalendar import Calendar, Event, vCalAddress

from activities.notice_values import Reader
from models.notices import Audience, Notice
from runtime.i18n import N_, gettext

# A program that names no consult length books the default (`ConsultsConfig.length_minutes`).
DEFAULT_LENGTH_MINUTES = 30

_SUMMARY = N_("Telephone consultation with your specialist")
_MEMBER_CALL = N_(
    "Your specialist will call you on your phone at this time. Please keep your phone with you."
)
# The specialist's (read in English): the email's own sentences.
_SPECIALIST_SUMMARY = N_("Telephone consultation for case %(case_id)s")
_SPECIALIST_CALL = N_("Please call the member on %(phone)s at this time.")
_SPECIALIST_NO_PHONE = N_("Please call the member at this time: their phone number is on the case.")


def consult_uid(case_id: str, n: str) -> str:
    """The consult's one UID: every message about it names the same event."""
    return f"{case_id}-consult-{n}@smo-orchestrator"


def consult_start(notice: Notice) -> datetime | None:
    """The booked slot (the workflow writes "%Y-%m-%d %H:%M %z"); None without one."""
    try:
        start = datetime.fromisoformat(notice.params.get("slot", ""))
    except ValueError:
        return None
    return start if start.tzinfo is not None else None


def consult_invite(
    notice: Notice,
    reader: Reader,
    organizer: str,
    attendee: str,
    phone: str = "",
    length_minutes: int | None = None,
    *,
    stamp: datetime,
) -> str | None:
    """The iCalendar text for this reader, or None when the notice names no slot."""
    start = consult_start(notice)
    if start is None:
        return None
    start = start.astimezone(reader.zone)
    end = start + timedelta(minutes=length_minutes or DEFAULT_LENGTH_MINUTES)
    if reader.audience is Audience.SPECIALIST:
        # Specialists read English; the number is theirs to dial, and only theirs to see.
        summary = gettext(_SPECIALIST_SUMMARY, reader.language, case_id=notice.case_id)
        call = gettext(_SPECIALIST_CALL, reader.language, phone=phone)
        description = call if phone else gettext(_SPECIALIST_NO_PHONE, reader.language)
    else:
        summary = gettext(_SUMMARY, reader.language)
        description = gettext(_MEMBER_CALL, reader.language)

    event = Event()
    event.add("uid", consult_uid(notice.case_id, notice.params.get("n", "1")))
    event.add("sequence", 0)
    event.add("dtstamp", stamp)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", summary)
    event.add("description", description)
    event.add("status", "CONFIRMED")
    event.add("organizer", vCalAddress(f"mailto:{organizer}"))
    guest = vCalAddress(f"mailto:{attendee}")
    guest.params["ROLE"] = "REQ-PARTICIPANT"
    guest.params["PARTSTAT"] = "ACCEPTED"
    event.add("attendee", guest)

    calendar = Calendar()
    calendar.add("prodid", "-//smo-orchestrator//consult invitations//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "REQUEST")
    calendar.add_component(event)
    # The zone's rules around the consult (the library's default spans 1970-2038: 4 KB of
    # past clock changes for a half-hour call).
    calendar.add_missing_timezones(date(start.year - 1, 1, 1), date(end.year + 2, 1, 1))
    ical: bytes = calendar.to_ical()
    return ical.decode("utf-8")
