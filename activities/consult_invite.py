"""The iCalendar invitation a consult's email carries to each side (`icalendar`).

A booked consult's email carries a `METHOD:REQUEST`, a moved one's the same event again one
SEQUENCE up (`params["seq"]`), a cancelled one's a `METHOD:CANCEL` (STATUS:CANCELLED, the
cancelled slot's start). Every message about the same consult names the same UID
(`<case_id>-consult-<n>@smo-orchestrator`), so a calendar files a resend, a move or a cancel
as the same event. The times are in the reader's own zone (the member's, the specialist's
roster zone), each with its VTIMEZONE, so a calendar shows them right whatever its own zone.
Reminders, the question after the call and a missed call carry no invitation.

The SUMMARY shows in notification previews: it names neither the member nor the condition.
The DESCRIPTION says who calls whom; only the specialist's says the member's number.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from email.charset import QP, Charset
from email.message import Message

from icalendar import Calendar, Event, vCalAddress

from activities.notice_values import Reader
from models.notices import Audience, Notice, NoticeKind
from runtime.i18n import N_, gettext

# A program that names no consult length books the default (`ConsultsConfig.length_minutes`).
DEFAULT_LENGTH_MINUTES = 30
# The notices whose email carries the consult's invitation, and its method.
METHODS = {
    NoticeKind.CONSULT_BOOKED: "REQUEST",
    NoticeKind.CONSULT_RESCHEDULED: "REQUEST",
    NoticeKind.CONSULT_CANCELLED: "CANCEL",
}
# The notices that send the specialist to the phone: only their copies carry the member's number.
CALLING = frozenset({NoticeKind.CONSULT_BOOKED, NoticeKind.CONSULT_RESCHEDULED, NoticeKind.CONSULT_REMINDER})

_SUMMARY = N_("Telephone consultation with your specialist")
_MEMBER_CALL = N_(
    "Your specialist will call you on your phone at this time. Please keep your phone with you."
)
_CANCELLED = N_("This telephone consultation is cancelled.")
# The specialist's (read in English): the email's own sentences.
_SPECIALIST_SUMMARY = N_("Telephone consultation for case %(case_id)s")
_SPECIALIST_CALL = N_("Please call the member on %(phone)s at this time.")
_SPECIALIST_NO_PHONE = N_("Please call the member at this time: their phone number is on the case.")

# The part goes on the wire quoted-printable, as the text does: an ICS line is mostly ASCII.
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP


def consult_uid(case_id: str, n: str) -> str:
    """The consult's one UID: every message about it names the same event."""
    return f"{case_id}-consult-{n}@smo-orchestrator"


def consult_start(notice: Notice) -> datetime | None:
    """The consult's slot (the workflow writes "%Y-%m-%d %H:%M %z"); None without one."""
    try:
        start = datetime.fromisoformat(notice.params.get("slot", ""))
    except ValueError:
        return None
    return start if start.tzinfo is not None else None


def caller_phone(notice: Notice, audience: Audience, phone: str) -> str:
    """The member's number for the specialist who calls them, and no one else ("" otherwise)."""
    return phone if audience is Audience.SPECIALIST and notice.kind in CALLING else ""


def _sequence(notice: Notice) -> int:
    seq = notice.params.get("seq", "0")
    return int(seq) if seq.isascii() and seq.isdigit() else 0


def _words(notice: Notice, reader: Reader, phone: str) -> tuple[str, str]:
    """The event's summary and description for this reader, in their language."""
    language = reader.language
    if reader.audience is Audience.SPECIALIST:
        # Specialists read English; the number is theirs to dial, and only theirs to see.
        summary = gettext(_SPECIALIST_SUMMARY, language, case_id=notice.case_id)
        call = gettext(_SPECIALIST_CALL, language, phone=phone) if phone else ""
        description = call or gettext(_SPECIALIST_NO_PHONE, language)
    else:
        summary, description = gettext(_SUMMARY, language), gettext(_MEMBER_CALL, language)
    if notice.kind is NoticeKind.CONSULT_CANCELLED:
        description = gettext(_CANCELLED, language)
    return summary, description


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
    """The iCalendar text for this reader, or None when the notice carries no invitation."""
    method = METHODS.get(notice.kind)
    start = consult_start(notice)
    if method is None or start is None:
        return None
    start = start.astimezone(reader.zone)
    end = start + timedelta(minutes=length_minutes or DEFAULT_LENGTH_MINUTES)
    summary, description = _words(notice, reader, phone)

    event = Event()
    event.add("uid", consult_uid(notice.case_id, notice.params.get("n", "1")))
    event.add("sequence", _sequence(notice))
    event.add("dtstamp", stamp)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", summary)
    event.add("description", description)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("organizer", vCalAddress(f"mailto:{organizer}"))
    guest = vCalAddress(f"mailto:{attendee}")
    guest.params["ROLE"] = "REQ-PARTICIPANT"
    guest.params["PARTSTAT"] = "ACCEPTED"
    event.add("attendee", guest)

    calendar = Calendar()
    calendar.add("prodid", "-//smo-orchestrator//consult invitations//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    calendar.add_component(event)
    # The zone's rules around the consult (the library's default spans 1970-2038: 4 KB of
    # past clock changes for a half-hour call).
    calendar.add_missing_timezones(date(start.year - 1, 1, 1), date(end.year + 2, 1, 1))
    ical: bytes = calendar.to_ical()
    return ical.decode("utf-8")


def calendar_part(invite: str, kind: NoticeKind) -> Message:
    """The invitation's MIME part, beside the text: `text/calendar` naming its method."""
    part = Message()
    part.set_payload(invite, _UTF8_QP)
    part.set_type("text/calendar")
    part.set_param("method", METHODS.get(kind, "REQUEST"), requote=False)
    return part
