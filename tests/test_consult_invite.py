"""A consult's emails carry an iCalendar invitation to each side, parsed back here.

The member's and the specialist's: `METHOD:REQUEST`, the consult's one UID, SEQUENCE 0, the
slot in the reader's own zone with its VTIMEZONE, the program's consult length, who calls
whom; the member's number only in the specialist's. A resend is the same message and event.
A move sends the same event one SEQUENCE up, a cancel its `METHOD:CANCEL`; reminders, the
question after the call and a missed call carry none.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtplib.email import flatten_message
from icalendar import Calendar, Event
from sqlalchemy import delete

from activities.notice_values import Reader
from activities.notices import Audience, EmailActivities, message_id_for
from models.db import EmailDelivery, EmailRow, table
from models.notices import Notice, NoticeKind
from models.vocabulary import Language
from runtime.mail import WIRE_POLICY
from runtime.outbox import OutboxServer, read_outbox, redeliveries
from tests import notice_mail, scenario

mail = notice_mail.mail

SPECIALIST = "SP-ONC-001"  # Dr. Helen Marsh, America/Chicago (data/specialists.yaml)
SPECIALIST_TO = "h.marsh@specialists.example.org"
SLOT = "2026-12-12 09:30 +0700"  # the workflow's own format (workflows/case/consult.py)
SLOT_UTC = datetime(2026, 12, 12, 2, 30, tzinfo=UTC)
KHMER_SUMMARY = "ការពិគ្រោះជាមួយគ្រូពេទ្យជំនាញរបស់អ្នក តាមទូរស័ព្ទ"  # the glossary's words


def booked(
    mail: EmailActivities,
    case_id: str,
    language: str = "en",
    kind: NoticeKind = NoticeKind.CONSULT_BOOKED,
    suffix: str = "1",
    **params: str,
) -> Notice:
    """A consult's notice as the workflow sends it (booked, unless `kind` says otherwise)."""
    stored = mail.store.put_intake(scenario.intake(language=language), case_id)
    return Notice(
        notice_id=f"{case_id}:{kind.value}:{suffix}",
        case_id=case_id,
        kind=kind,
        intake_doc_id=stored.doc_id,
        specialist_id=SPECIALIST,
        program="assist-america",
        params={"slot": SLOT, "n": "1"} | params,
    )


def invite_of(msg: EmailMessage, method: str = "REQUEST") -> tuple[Calendar, str]:
    """The message's calendar part, parsed back, and its text part."""
    assert msg.get_content_type() == "multipart/alternative"
    (calendar,) = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    assert calendar.get_param("method") == method and calendar.get_content_charset() == "utf-8"
    (text,) = [p for p in msg.walk() if p.get_content_type() == "text/plain"]
    ics = calendar.get_content()
    return Calendar.from_ical(ics), str(text.get_content()) + ics


def event_of(calendar: Calendar) -> Event:
    (event,) = calendar.walk("VEVENT")
    assert isinstance(event, Event)
    return event


def zones_of(calendar: Calendar) -> set[str]:
    return {str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")}


async def sent(mail: EmailActivities, outbox: OutboxServer, notice: Notice) -> dict[str, EmailMessage]:
    """The notice's messages, by recipient (the outbox may hold earlier notices' too)."""
    await mail.send_notice(notice)
    messages = read_outbox(Path(outbox.directory))
    return {str(m["To"]): m for m in messages if m["X-SMO-Notice-Id"] == notice.notice_id}


async def test_both_sides_get_an_invitation_in_their_own_zone_and_only_the_specialist_the_number(
    mail: EmailActivities, outbox: OutboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    notice = booked(mail, "C-INV-1")
    phone = scenario.intake().phone
    messages = await sent(mail, outbox, notice)
    member, member_text = invite_of(messages[str(scenario.intake().email)])
    specialist, specialist_text = invite_of(messages[SPECIALIST_TO])
    assert member_text.count(phone) == 0 and phone not in str(messages[str(scenario.intake().email)])
    assert phone in specialist_text and "Please call the member on" in specialist_text
    assert "will call you" in member_text
    logged = capsys.readouterr()
    assert phone not in logged.out + logged.err
    for calendar, zone in ((member, "Asia/Phnom_Penh"), (specialist, "America/Chicago")):
        assert calendar["METHOD"] == "REQUEST"
        assert zones_of(calendar) == {zone}
        event = event_of(calendar)
        assert str(event["UID"]) == "C-INV-1-consult-1@smo-orchestrator"
        assert event["SEQUENCE"] == 0 and event.DTSTAMP is not None
        start, end = event.DTSTART, event.DTEND
        assert isinstance(start, datetime) and isinstance(end, datetime)
        assert str(start.tzinfo) == zone and str(end.tzinfo) == zone
        assert start.astimezone(UTC) == SLOT_UTC
        assert end - start == timedelta(minutes=30)
        assert str(event["ORGANIZER"]).lower().startswith("mailto:")
    # The specialist's zone with both its winter and summer offsets, for the years around it.
    offsets = {c.decoded("TZOFFSETTO") for c in specialist.walk() if c.name in ("STANDARD", "DAYLIGHT")}
    assert offsets == {timedelta(hours=-6), timedelta(hours=-5)}, offsets
    assert str(event_of(member)["ATTENDEE"]) == f"mailto:{scenario.intake().email}"
    assert str(event_of(specialist)["ATTENDEE"]) == f"mailto:{SPECIALIST_TO}"
    # The summary shows in notification previews: no name, no diagnosis.
    intake = scenario.intake()
    for calendar in (member, specialist):
        summary = str(event_of(calendar)["SUMMARY"])
        assert intake.patient_name not in summary and intake.diagnosis_text not in summary
    assert str(event_of(specialist).DTSTART).startswith("2026-12-11 20:30")  # the evening before in Texas


async def test_a_khmer_member_s_invitation_is_in_khmer(mail: EmailActivities, outbox: OutboxServer) -> None:
    messages = await sent(mail, outbox, booked(mail, "C-INV-2", language="km"))
    member, _ = invite_of(messages[str(scenario.intake().email)])
    assert KHMER_SUMMARY in str(event_of(member)["SUMMARY"])
    specialist, _ = invite_of(messages[SPECIALIST_TO])
    assert str(event_of(specialist)["SUMMARY"]).isascii()


async def test_a_resend_is_the_same_message_and_the_same_event(
    mail: EmailActivities, outbox: OutboxServer
) -> None:
    notice = booked(mail, "C-INV-3")
    first = await sent(mail, outbox, notice)
    # Forget that it was sent, as after a crash between the server's 250 and the record.
    with mail.engine.begin() as conn:
        conn.execute(delete(table(EmailDelivery)))
        conn.execute(delete(table(EmailRow)))
    await mail.send_notice(notice)
    for to, msg in first.items():
        audience = "specialist" if to == SPECIALIST_TO else "customer"
        assert msg["Message-ID"] == message_id_for(f"{notice.notice_id}/{audience}")
    again = {str(m["To"]): m for m in read_outbox(Path(outbox.directory))}
    # The same Message-IDs: the receiving side keeps one copy of each.
    assert len(again) == 2 and redeliveries(Path(outbox.directory)) == 2
    for to, msg in first.items():
        assert again[to]["Message-ID"] == msg["Message-ID"]
        uid = str(event_of(invite_of(msg)[0])["UID"])
        assert uid == str(event_of(invite_of(again[to])[0])["UID"]) == "C-INV-3-consult-1@smo-orchestrator"


MOVED_SLOT = "2027-03-20 09:30 +0700"  # after the US clocks moved on: 21:30 CDT the evening before
MOVED_UTC = datetime(2027, 3, 20, 2, 30, tzinfo=UTC)


async def test_a_move_and_a_cancel_name_the_same_event_one_sequence_up(
    mail: EmailActivities, outbox: OutboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    phone, member_to = scenario.intake().phone, str(scenario.intake().email)
    first = await sent(mail, outbox, booked(mail, "C-INV-6", seq="0"))
    moved = booked(
        mail,
        "C-INV-6",
        kind=NoticeKind.CONSULT_RESCHEDULED,
        suffix="1-1",
        slot=MOVED_SLOT,
        before=SLOT,
        seq="1",
    )
    second = await sent(mail, outbox, moved)
    cancelled = booked(mail, "C-INV-6", kind=NoticeKind.CONSULT_CANCELLED, slot=MOVED_SLOT, seq="2")
    third = await sent(mail, outbox, cancelled)
    for to, zone in ((member_to, "Asia/Phnom_Penh"), (SPECIALIST_TO, "America/Chicago")):
        request, _ = invite_of(first[to])
        again, again_text = invite_of(second[to])
        cancel, cancel_text = invite_of(third[to], method="CANCEL")
        assert (request["METHOD"], again["METHOD"], cancel["METHOD"]) == ("REQUEST", "REQUEST", "CANCEL")
        events = [event_of(c) for c in (request, again, cancel)]
        assert {str(e["UID"]) for e in events} == {"C-INV-6-consult-1@smo-orchestrator"}
        assert [e["SEQUENCE"] for e in events] == [0, 1, 2]
        assert [str(e["STATUS"]) for e in events] == ["CONFIRMED", "CONFIRMED", "CANCELLED"]
        starts = [e.DTSTART for e in events]
        assert all(isinstance(s, datetime) and str(s.tzinfo) == zone for s in starts)
        assert [s.astimezone(UTC) for s in starts] == [SLOT_UTC, MOVED_UTC, MOVED_UTC]
        assert zones_of(cancel) == {zone}
        assert "cancelled" in cancel_text and phone not in cancel_text
        assert (phone in again_text) is (to == SPECIALIST_TO)
    # The specialist's copy of the move: from winter time to summer time in Texas.
    assert str(event_of(invite_of(second[SPECIALIST_TO])[0]).DTSTART).startswith("2027-03-19 21:30")
    assert "21:30 CDT" in invite_of(second[SPECIALIST_TO])[1]
    assert "20:30 CST" in invite_of(second[SPECIALIST_TO])[1]
    assert phone not in str(second[member_to]) + str(third[member_to])
    logged = capsys.readouterr()
    assert phone not in logged.out + logged.err


@pytest.mark.parametrize(
    "kind",
    [
        NoticeKind.CASE_OPENED,
        NoticeKind.RECEIPT,
        NoticeKind.CONSULT_REMINDER,
        NoticeKind.CONSULT_CHECK,
        NoticeKind.CONSULT_MISSED,
        NoticeKind.CONSULT_NO_SLOTS,
    ],
)
async def test_no_other_notice_carries_an_invitation(
    mail: EmailActivities, outbox: OutboxServer, kind: NoticeKind
) -> None:
    notice = booked(mail, "C-INV-4", kind=kind, before="1h", who="specialist", free="1")
    messages = await sent(mail, outbox, notice)
    assert messages
    for msg in messages.values():
        assert msg.get_content_type() == "text/plain"


@pytest.mark.parametrize(
    ("kind", "params", "language", "method", "sequence"),
    [
        (NoticeKind.CONSULT_BOOKED, {"n": "1"}, Language.KM, "REQUEST", 0),
        (NoticeKind.CONSULT_CANCELLED, {"n": "2", "seq": "3"}, Language.EN, "CANCEL", 3),
    ],
)
def test_the_invitation_goes_on_the_wire_as_aiosmtplib_would_write_it(
    mail: EmailActivities,
    kind: NoticeKind,
    params: dict[str, str],
    language: Language,
    method: str,
    sequence: int,
) -> None:
    notice = Notice(
        notice_id=f"C-INV-5:{kind.value}:1", case_id="C-INV-5", kind=kind, params={"slot": SLOT} | params
    )
    reader = Reader(Audience.CUSTOMER, "Sokha Chan", language)
    subject, body = mail._render(notice, reader)
    invite = mail._invite(notice, reader, "member@example.org", "", datetime.now(UTC))
    assert invite is not None
    msg = mail._message("member@example.org", subject, body, notice, "<m@x>", reader.language, invite)
    assert msg.as_bytes(policy=WIRE_POLICY) == flatten_message(msg)
    (part,) = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    assert part["Content-Transfer-Encoding"] == "quoted-printable" and part.get_param("method") == method
    event = event_of(Calendar.from_ical(invite))
    assert str(event["UID"]) == f"C-INV-5-consult-{params['n']}@smo-orchestrator"
    assert event["SEQUENCE"] == sequence
    assert str(event["STATUS"]) == ("CANCELLED" if method == "CANCEL" else "CONFIRMED")
    start = event.DTSTART
    assert isinstance(start, datetime) and start.astimezone(UTC) == SLOT_UTC
