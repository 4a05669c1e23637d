"""A consult's notices after its booking, as each reader gets them from the real SMTP server.

A move, a cancel and both reminders go to both sides; the question after the call to the
specialist (with their assignment page) and the desk (with the command that records the
outcome); a missed call to the member (an apology or what a new booking costs, and a link to
book one) and the supervisor (the escalation); no slot fitting to the desk (the near misses,
in ICT). Each reader reads their own language and zone: the member in their case's language
(the Khmer catalog may still be filling in: the structure, zones and times are checked, not
the Khmer words), the specialist in English at the roster's America/Chicago time, CST or CDT
as the date falls, the desk in English in ICT. Only the specialist's copy carries the
member's number, and no log does.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from activities.notices import RECIPIENTS, Audience, EmailActivities
from models.db import Assignment, table
from models.notices import Notice, NoticeKind
from models.vocabulary import Language
from runtime.consult_holds import MemberHours, set_member_hours
from runtime.i18n import ICT, when, zone_of
from runtime.outbox import OutboxServer
from runtime.portal_links import PortalLinks
from tests import notice_mail, scenario
from tests.test_consult_invite import SLOT_UTC, SPECIALIST, SPECIALIST_TO, booked, event_of, invite_of, sent

mail = notice_mail.mail

CHICAGO = zone_of("America/Chicago")
MEMBER_TO = str(scenario.intake().email)
PHONE = scenario.intake().phone
UNFILLED = re.compile(r"\$[a-z_]+\b|%\(")
KHMER = re.compile(r"[\u1780-\u17ff]")
NEAR = "2026-12-14T01:00:00+00:00|outside the specialist's hours;2026-12-15T01:30:00+00:00|taken"

# What the workflow sends with each new kind (workflows/case/consult.py, consult_clock.py).
PARAMS: dict[NoticeKind, dict[str, str]] = {
    NoticeKind.CONSULT_RESCHEDULED: {"before": "2026-12-10 09:00 +0700", "seq": "1"},
    NoticeKind.CONSULT_CANCELLED: {"seq": "1"},
    NoticeKind.CONSULT_REMINDER: {"seq": "0", "before": "24h"},
    NoticeKind.CONSULT_CHECK: {"seq": "0"},
    NoticeKind.CONSULT_MISSED: {"seq": "0", "who": "specialist", "free": "1"},
    NoticeKind.CONSULT_NO_SLOTS: {"near": NEAR},
}
NEW_KINDS = list(PARAMS)
# The numbers the member's phone is for: the specialist's copy of a call still to come.
CALLING = {NoticeKind.CONSULT_RESCHEDULED, NoticeKind.CONSULT_REMINDER}


def address(mail: EmailActivities, audience: Audience) -> str:
    return {
        Audience.CUSTOMER: MEMBER_TO,
        Audience.SPECIALIST: SPECIALIST_TO,
        Audience.COORDINATOR: mail.config.coordinator,
        Audience.SUPERVISOR: mail.config.supervisor,
    }[audience]


def consult_notice(
    mail: EmailActivities,
    case_id: str,
    kind: NoticeKind,
    language: str = "en",
    program: str = "prudential-kh",
    **params: str,
) -> Notice:
    notice = booked(mail, case_id, language, kind, **(PARAMS[kind] | params))
    if kind is NoticeKind.CONSULT_NO_SLOTS:  # no consult yet: only the near misses
        return notice.model_copy(update={"program": program, "params": {"near": params.get("near", NEAR)}})
    return notice.model_copy(update={"program": program})


def msg_language(msg: EmailMessage) -> Language:
    return Language(str(msg["Content-Language"]))


def text_of(msg: EmailMessage) -> str:
    """The subject and the text part (the only part, or the one beside an invitation)."""
    (text,) = [p for p in msg.walk() if p.get_content_type() == "text/plain"]
    return f"{msg['Subject']}\n{text.get_content()}".replace("\r\n", "\n")


def start_of(msg: EmailMessage) -> datetime:
    """The DTSTART of the message's invitation, parsed back."""
    start = event_of(invite_of(msg)[0]).DTSTART
    assert isinstance(start, datetime)
    return start


async def texts(mail: EmailActivities, outbox: OutboxServer, notice: Notice) -> dict[str, str]:
    return {to: text_of(msg) for to, msg in (await sent(mail, outbox, notice)).items()}


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("kind", NEW_KINDS, ids=[k.value for k in NEW_KINDS])
async def test_each_reader_gets_the_notice_in_their_language_and_zone(
    mail: EmailActivities,
    outbox: OutboxServer,
    capsys: pytest.CaptureFixture[str],
    kind: NoticeKind,
    language: Language,
) -> None:
    notice = consult_notice(mail, f"C-CN-{kind.value}", kind, language.value)
    messages = await sent(mail, outbox, notice)
    assert set(messages) == {address(mail, a) for a in RECIPIENTS[kind]}
    for audience in RECIPIENTS[kind]:
        msg = messages[address(mail, audience)]
        text = text_of(msg)
        assert not UNFILLED.search(text), text
        assert notice.case_id in text
        # The member reads their case's language; everyone else English.
        member = audience is Audience.CUSTOMER
        assert msg["Content-Language"] == (language.value if member else "en")
        if not member or language is Language.EN:
            assert not KHMER.search(text), text
        # Each in their zone, labelled: the member's and the desk's ICT, the specialist's Chicago.
        zone = CHICAGO if audience is Audience.SPECIALIST else ICT
        at = datetime(2026, 12, 14, 1, 0, tzinfo=UTC) if kind is NoticeKind.CONSULT_NO_SLOTS else SLOT_UTC
        assert when(at, msg_language(msg), zone) in text, text
        assert "UTC" not in text
        # The number only in the specialist's copy of a call still to come.
        if audience is Audience.SPECIALIST and kind in CALLING:
            assert f"Please call the member on {PHONE} at this time." in text
        else:
            assert PHONE not in text and PHONE not in str(msg), text
    logged = capsys.readouterr()
    assert PHONE not in logged.out + logged.err


async def test_the_specialist_reads_cst_or_cdt_as_the_date_falls_and_the_member_ict(
    mail: EmailActivities, outbox: OutboxServer
) -> None:
    # 08:00 in Phnom Penh both days; in Texas the evening before, an hour apart across 1 November.
    summer = consult_notice(mail, "C-CN-DST", NoticeKind.CONSULT_REMINDER, slot="2026-10-31 08:00 +0700")
    winter = consult_notice(
        mail,
        "C-CN-DST",
        NoticeKind.CONSULT_RESCHEDULED,
        slot="2026-11-02 08:00 +0700",
        before="2026-10-31 08:00 +0700",
    )
    before = await texts(mail, outbox, summer)
    assert "Friday 30 October 2026, 20:00 CDT" in before[SPECIALIST_TO]
    assert "Saturday 31 October 2026, 08:00 ICT" in before[MEMBER_TO]
    messages = await sent(mail, outbox, winter)
    moved = {to: text_of(msg) for to, msg in messages.items()}
    assert "has moved to Sunday 1 November 2026, 19:00 CST." in moved[SPECIALIST_TO]
    assert "It is no longer at Friday 30 October 2026, 20:00 CDT." in moved[SPECIALIST_TO]
    assert "has moved to Monday 2 November 2026, 08:00 ICT." in moved[MEMBER_TO]
    # The invitation of the move, in the specialist's zone at its winter offset.
    start = start_of(messages[SPECIALIST_TO])
    assert str(start.tzinfo) == "America/Chicago" and start.utcoffset() == timedelta(hours=-6)
    assert start.astimezone(UTC) == datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("before", "words", "specialist_reads"),
    [
        ("24h", "tomorrow", "is tomorrow, Friday 11 December 2026, 20:30 CST."),
        ("1h", "in one hour", "starts in one hour: Friday 11 December 2026, 20:30 CST."),
    ],
)
async def test_a_reminder_says_tomorrow_or_in_one_hour_and_who_calls_whom(
    mail: EmailActivities, outbox: OutboxServer, before: str, words: str, specialist_reads: str
) -> None:
    notice = consult_notice(mail, f"C-CN-REM-{before}", NoticeKind.CONSULT_REMINDER, before=before)
    got = await texts(mail, outbox, notice)
    for text in got.values():
        subject, body = text.split("\n", 1)
        assert words in subject and words in body
    assert "Your specialist will call you on your phone at this time." in got[MEMBER_TO]
    assert f"Please call the member on {PHONE} at this time." in got[SPECIALIST_TO]
    assert specialist_reads in got[SPECIALIST_TO]


async def test_the_question_after_the_call_brings_the_specialist_s_page_and_the_desk_s_command(
    mail: EmailActivities, outbox: OutboxServer
) -> None:
    assert isinstance(mail.portal, PortalLinks)
    with mail.engine.begin() as conn:
        conn.execute(
            table(Assignment).insert(),
            [
                {
                    "case_id": "C-CN-CHK",
                    "assignment_no": 1,
                    "specialist_id": "SP-ONC-002",
                    "status": "released",
                },
                {"case_id": "C-CN-CHK", "assignment_no": 2, "specialist_id": SPECIALIST, "status": "active"},
            ],
        )
    got = await texts(mail, outbox, consult_notice(mail, "C-CN-CHK", NoticeKind.CONSULT_CHECK))
    specialist, desk = got[SPECIALIST_TO], got[mail.config.coordinator]
    assert "Did telephone consultation 1 take place?" in specialist
    assert "was booked for Friday 11 December 2026, 20:30 CST" in specialist
    assert re.search(r"https?://\S+/portal/assignments/C-CN-CHK/2/\d+/[0-9a-f]{64}\b", specialist), specialist
    assert "smo consult complete" not in specialist
    assert "was booked for Saturday 12 December 2026, 09:30 ICT" in desk
    assert "smo consult complete C-CN-CHK --outcome done|member-absent|specialist-absent" in desk
    assert "/portal/" not in desk
    # No active assignment of theirs: the question comes without a page.
    alone = await texts(mail, outbox, consult_notice(mail, "C-CN-CHK-2", NoticeKind.CONSULT_CHECK))
    assert "/portal/" not in alone[SPECIALIST_TO] and "take place?" in alone[SPECIALIST_TO]


@pytest.mark.parametrize(
    ("who", "free", "program", "member_says", "supervisor_says"),
    [
        ("specialist", "1", "prudential-kh", "Your next booking is free of charge.", "the specialist missed"),
        ("member", "1", "prudential-kh", "Your next booking is free of charge.", "next booking is free."),
        ("member", "0", "prudential-kh", "A new booking costs 150.00 USD.", "billed at 150.00 USD."),
        ("member", "0", "assist-america", "Your next booking is free of charge.", "next booking is free."),
    ],
)
async def test_a_missed_call_tells_the_member_what_comes_next_and_escalates(
    mail: EmailActivities,
    outbox: OutboxServer,
    who: str,
    free: str,
    program: str,
    member_says: str,
    supervisor_says: str,
) -> None:
    assert isinstance(mail.portal, PortalLinks)
    case_id = f"C-CN-MISS-{who}-{free}-{program}"
    notice = consult_notice(mail, case_id, NoticeKind.CONSULT_MISSED, program=program, who=who, free=free)
    got = await texts(mail, outbox, notice)
    member, supervisor = got[MEMBER_TO], got[mail.config.supervisor]
    assert member_says in member
    assert ("We are sorry." in member) is (who == "specialist")
    assert "Saturday 12 December 2026, 09:30 ICT" in member
    # How to book again: a fresh sign-in link to the case page, in the member's language.
    link = re.search(r"https?://\S+/portal/signin/([A-Za-z0-9_-]{43})\?lang=en\b", member)
    assert link is not None and "To book a new time" in member, member
    assert mail.portal.check(link.group(1)).case_id == case_id
    assert supervisor.startswith("Escalation:") and supervisor_says in supervisor
    assert (SPECIALIST in supervisor) is (who == "specialist")
    intake = scenario.intake()
    for text in (member, supervisor):
        assert PHONE not in text and intake.diagnosis_text not in text
    assert intake.patient_name not in supervisor and "/portal/" not in supervisor


async def test_a_khmer_member_s_missed_call_keeps_its_link_and_its_khmer_date(
    mail: EmailActivities, outbox: OutboxServer
) -> None:
    notice = consult_notice(mail, "C-CN-MISS-KM", NoticeKind.CONSULT_MISSED, "km", who="member", free="0")
    msg = (await sent(mail, outbox, notice))[MEMBER_TO]
    text = text_of(msg)
    assert msg["Content-Language"] == "km"
    assert when(SLOT_UTC, Language.KM, ICT) in text and "12 ធ្នូ 2026" in text
    assert re.search(r"/portal/signin/[A-Za-z0-9_-]{43}\?lang=km\b", text), text
    assert "150.00 USD" in text


async def test_the_desk_reads_the_near_misses_in_ict_and_the_command_to_list_slots(
    mail: EmailActivities, outbox: OutboxServer
) -> None:
    got = await texts(mail, outbox, consult_notice(mail, "C-CN-NONE", NoticeKind.CONSULT_NO_SLOTS))
    (desk,) = got.values()
    assert "No telephone consultation slot fits" in desk
    assert "  Monday 14 December 2026, 08:00 ICT: outside the specialist's hours\n" in desk
    assert "  Tuesday 15 December 2026, 08:30 ICT: taken\n" in desk
    assert "smo consult slots C-CN-NONE" in desk
    none = await texts(
        mail, outbox, consult_notice(mail, "C-CN-NONE-2", NoticeKind.CONSULT_NO_SLOTS, near="")
    )
    (empty,) = none.values()
    assert "No time came close." in empty and "smo consult slots C-CN-NONE-2" in empty


async def test_a_member_who_gave_their_own_zone_reads_their_times_in_it(
    mail: EmailActivities, outbox: OutboxServer
) -> None:
    set_member_hours(mail.engine, "C-CN-TOKYO", MemberHours("Asia/Tokyo", "08:00-21:00"))
    notice = consult_notice(mail, "C-CN-TOKYO", NoticeKind.CONSULT_RESCHEDULED)
    messages = await sent(mail, outbox, notice)
    member = text_of(messages[MEMBER_TO])
    assert "has moved to Saturday 12 December 2026, 11:30 JST." in member
    start = start_of(messages[MEMBER_TO])
    assert str(start.tzinfo) == "Asia/Tokyo" and start.astimezone(UTC) == SLOT_UTC
    # The specialist's copy is unchanged: their own zone.
    assert "Friday 11 December 2026, 20:30 CST" in text_of(messages[SPECIALIST_TO])
