"""What a notice puts on the wire: the bytes aiosmtplib's own serializer would write, and the
words the string templates wrote before the Jinja2 files (activities/templates/email/).

`SmtpMailer` serialises each message itself (`WIRE_POLICY`: compat32 without a header object
for a header that needs no folding) and names the envelope addresses, instead of handing the
message to `send_message`, which folds every header through `email.header.Header` and parses
the addresses back out of the headers. These tests hold the two to the same bytes, but for
one difference on purpose: a body line that begins "From " goes out as it is, where
aiosmtplib's generator writes ">From " (an mbox habit; SMTP has no use for it, and it
changed what the reader saw).

The words are checked against the string templates they replaced, kept below as they were:
for every notice the recorded cases of both programs sent (tests/histories/), and for any
values at all.
"""

from __future__ import annotations

import email.policy
import re
import tomllib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email.message import Message
from pathlib import Path
from string import Template

import pytest
from aiosmtplib.email import flatten_message
from hypothesis import given, settings
from hypothesis import strategies as st
from temporalio.client import WorkflowHistory

from activities.notice_templates import TEMPLATES, render_notice, render_portal_text
from activities.notices import RECIPIENTS, Audience, EmailActivities, message_id_for
from models.notices import Notice, NoticeKind
from models.settings import Settings
from runtime.mail import WIRE_POLICY
from security.codec import data_converter
from security.keys import KeyRing
from tests import scenario
from tests.record_histories import HISTORIES_DIR, fixture_key_spec, workflow_id_for_history
from worker import Services, activities_for

ROOT = Path(__file__).resolve().parents[1]

# Tabs, controls, ASCII and Latin text (the range holds no surrogates).
HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=9, max_codepoint=0x2FF), max_size=120)


@settings(max_examples=400, deadline=None)
@given(subject=HEADER_TEXT, notice_id=HEADER_TEXT)
def test_any_header_value_is_written_as_compat32_writes_it(subject: str, notice_id: str) -> None:
    msg = Message()
    msg["Subject"] = subject
    msg["X-SMO-Notice-Id"] = notice_id
    msg.set_payload("body\n")
    assert msg.as_bytes(policy=WIRE_POLICY) == msg.as_bytes(policy=email.policy.compat32)


@pytest.fixture
def mail(settings: Settings) -> Iterator[EmailActivities]:
    services = Services.from_settings(settings)
    (send_notice,) = [a for a in activities_for(services) if getattr(a, "__name__", "") == "send_notice"]
    yield send_notice.__self__  # type: ignore[attr-defined]
    services.engine.dispose()


@pytest.mark.parametrize("kind", list(NoticeKind))
def test_every_notice_goes_on_the_wire_byte_for_byte_as_aiosmtplib_would_write_it(
    mail: EmailActivities, kind: NoticeKind
) -> None:
    notice = Notice(
        notice_id=f"C-WIRE-1:{kind.value}:1",
        case_id="C-WIRE-1",
        kind=kind,
        due_at=datetime(2026, 12, 10, 10, 0, tzinfo=UTC),
        # A non-ASCII subject (receipts name the item) takes the encoded, folded path.
        params={"item": "consultation téléphonique de suivi, deuxième créneau du matin", "n": "2"},
    )
    subject, body = mail._render(notice, Audience.CUSTOMER, "Sokha Chan")
    msg = mail._message("member@example.org", subject, body, notice, message_id_for(notice.notice_id))
    assert msg.as_bytes(policy=WIRE_POLICY) == flatten_message(msg)


def test_a_body_line_beginning_from_goes_out_as_written() -> None:
    msg = Message()
    msg["Subject"] = "Case C-WIRE-2: team notice"
    msg.set_payload("Case C-WIRE-2 needs attention.\nFrom tomorrow the clock runs again.\n")
    wire = msg.as_bytes(policy=WIRE_POLICY)
    assert b"\nFrom tomorrow the clock runs again." in wire
    assert b">From" in flatten_message(msg)  # what send_message used to put on the wire


# ---- the words: the same text as the string templates the Jinja2 files replaced -------------

# As they were (string.Template: a notice filled in with safe_substitute, a portal paragraph
# with substitute).
BEFORE_SUBJECTS: dict[NoticeKind, str] = {
    NoticeKind.CASE_OPENED: "Your Second Medical Opinion request $case_id",
    NoticeKind.INELIGIBLE: "Second Medical Opinion request $case_id: not eligible",
    NoticeKind.RECORDS_REMINDER: "Reminder: medical records needed for $case_id",
    NoticeKind.RECORDS_LAPSED: "Second Medical Opinion request $case_id has lapsed",
    NoticeKind.RECORDS_TO_SPECIALIST: "New SMO case $case_id: complete records",
    NoticeKind.INFO_REQUESTED: "More information needed for $case_id",
    NoticeKind.INFO_SUPPLIED: "Information supplied for $case_id",
    NoticeKind.SLA_WARNING: "SLA warning: report for $case_id due $due",
    NoticeKind.SLA_BREACH: "SLA BREACH: report for $case_id was due $due",
    NoticeKind.SLA_BREACH_REMINDER: "SLA breach continues: $case_id (due $due)",
    NoticeKind.SLA_MOVED: "SLA deadline moved for $case_id: now due $due",
    NoticeKind.REPORT_DELIVERED: "Your Second Medical Opinion report is ready ($case_id)",
    NoticeKind.CONSULT_BOOKED: "Telephone consultation booked ($case_id)",
    NoticeKind.RECEIPT: "Receipt for $item ($case_id)",
    NoticeKind.CASE_CLOSED: "Your Second Medical Opinion case $case_id is closed",
    NoticeKind.CASE_CANCELLED: "Second Medical Opinion case $case_id cancelled",
    NoticeKind.TEAM_NOTIFIED: "Case $case_id: $item",
    NoticeKind.ATTENTION: "Attention needed on $case_id: $item",
    NoticeKind.PORTAL_LINK: "Your sign-in link for $case_id",
    NoticeKind.CONFIRM_REQUEST: "Please confirm your Second Medical Opinion request",
}

BEFORE_BODIES: dict[NoticeKind, str] = {
    NoticeKind.CASE_OPENED: "Dear $name,\n\nWe have opened your Second Medical Opinion request"
    " $case_id. Please send us: $records.\n$portal",
    NoticeKind.INELIGIBLE: "Dear $name,\n\nYour request $case_id is not eligible: $item\n",
    NoticeKind.RECORDS_REMINDER: "Dear $name,\n\nWe are still waiting for: $records (reminder $n).\n",
    NoticeKind.RECORDS_LAPSED: "Dear $name,\n\nWe did not receive your medical records, so"
    " request $case_id has lapsed. You may open a new request at any time.\n",
    NoticeKind.RECORDS_TO_SPECIALIST: "Dear $name,\n\nCase $case_id is assigned to you. The"
    " complete records:\n$links\nYour written report is due $due.\n$portal",
    NoticeKind.INFO_REQUESTED: "Dear $name,\n\nThe specialist needs more information for"
    " $case_id: $item. The report clock is paused until it arrives.\n",
    NoticeKind.INFO_SUPPLIED: "Dear $name,\n\nThe information for $case_id has arrived:\n"
    "$links\nThe report is now due $due.\n",
    NoticeKind.SLA_WARNING: "Dear $name,\n\nThe report for $case_id is due $due.\n",
    NoticeKind.SLA_BREACH: "The report for $case_id was due $due and has not arrived."
    " The case offers reassignment (smo specialist assign).\n",
    NoticeKind.SLA_BREACH_REMINDER: "The report for $case_id is still missing (due $due, reminder $n).\n",
    NoticeKind.SLA_MOVED: "Dear $name,\n\nA holiday decree ($decree) moved the report deadline for"
    " $case_id from $old to $due.\n",
    NoticeKind.REPORT_DELIVERED: "Dear $name,\n\nYour Second Medical Opinion report is ready."
    " Download it here (the link expires $expires):\n$links\n\nYou may book $item.\n$notice\n",
    NoticeKind.CONSULT_BOOKED: "Dear $name,\n\nTelephone consultation $n for $case_id is booked for $slot.\n",
    NoticeKind.RECEIPT: "Dear $name,\n\nWe charged $amount for $item (case $case_id)."
    " Reference: $reference.\n",
    NoticeKind.CASE_CLOSED: "Dear $name,\n\nCase $case_id is closed.$item\n",
    NoticeKind.CASE_CANCELLED: "Dear $name,\n\nCase $case_id was cancelled.\n",
    NoticeKind.TEAM_NOTIFIED: "Case $case_id: $item.\n",
    NoticeKind.ATTENTION: "Case $case_id needs attention: $item.\n",
    NoticeKind.PORTAL_LINK: "Dear $name,\n\n$portal",
    NoticeKind.CONFIRM_REQUEST: "Hello,\n\nWe received a request for a Second Medical Opinion that gave this"
    " email address. To go ahead with it, open this link and press the button on the page (the link"
    " works once, for 24 hours):\n  $portal\n\nIf you did not make this request, you need not do"
    " anything: we will send nothing more, and the request ends by itself.\n",
}

BEFORE_SIGN_IN = (
    "\nSign in to your case page to see where it stands, add documents or change your contact"
    " details (the link works once, until $until; you will be asked for your date of birth):\n  $url\n"
)
BEFORE_ASSIGNMENT = "\nYour page for this assignment (records, report, questions, decline):\n  $url\n"

PLACEHOLDERS = sorted(
    set(re.findall(r"\$(\w+)", " ".join([*BEFORE_SUBJECTS.values(), *BEFORE_BODIES.values()])))
)
# Text that a template language could take for its own: `$`, braces, `%`, `#`, line ends.
VALUE_TEXT = st.text(alphabet="${}%#\n\r\\ x", max_size=12) | st.text(max_size=40)


def before(kind: NoticeKind, values: dict[str, str]) -> tuple[str, str]:
    return (
        Template(BEFORE_SUBJECTS[kind]).safe_substitute(values),
        Template(BEFORE_BODIES[kind]).safe_substitute(values),
    )


def test_every_notice_kind_has_its_template_and_every_template_a_kind() -> None:
    assert {p.stem for p in TEMPLATES.glob("*.txt")} == {k.value for k in NoticeKind}


def test_every_template_is_package_data() -> None:
    # The templates are package data: an install that is not editable has them too.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["activities"]
    package = ROOT / "activities"
    files = [p.relative_to(package) for p in TEMPLATES.rglob("*") if p.is_file()]
    assert files
    assert [f for f in files if not any(f.match(g) for g in globs)] == []


@settings(max_examples=400, deadline=None)
@given(
    kind=st.sampled_from(list(NoticeKind)),
    values=st.dictionaries(st.sampled_from([*PLACEHOLDERS, "extra"]), VALUE_TEXT),
)
def test_any_values_read_as_the_string_templates_wrote_them(kind: NoticeKind, values: dict[str, str]) -> None:
    # Missing ones too: safe_substitute left `$decree` as it was, and so do the templates.
    assert render_notice(kind, values) == before(kind, values)


@settings(max_examples=100, deadline=None)
@given(url=VALUE_TEXT, until=VALUE_TEXT)
def test_the_portal_paragraphs_read_as_before(url: str, until: str) -> None:
    assert render_portal_text("sign_in", url=url, until=until) == Template(BEFORE_SIGN_IN).substitute(
        url=url, until=until
    )
    assert render_portal_text("assignment", url=url) == Template(BEFORE_ASSIGNMENT).substitute(url=url)


class FixedPortal:
    """Portal links that stay put, so that only the words are compared."""

    def sign_in_url(self, case_id: str, dob: date) -> tuple[str, datetime]:
        return f"https://smo.example/portal/signin/{case_id}", datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def assignment_url(self, case_id: str, assignment_no: int, specialist_id: str) -> str:
        return f"https://smo.example/portal/assignments/{case_id}/{assignment_no}/{specialist_id}"

    def confirmation_url(self, case_id: str) -> tuple[str, datetime]:
        return f"https://smo.example/portal/confirm/{case_id}", datetime(2026, 12, 1, tzinfo=UTC)


async def recorded_notices() -> list[tuple[str, Notice]]:
    """(program, notice) for every notice the recorded cases sent."""
    converter = data_converter(KeyRing.parse(fixture_key_spec()))
    found = []
    for path in sorted(HISTORIES_DIR.glob("*.json")):
        text = path.read_text(encoding="utf-8")
        events = WorkflowHistory.from_json(workflow_id_for_history(path.stem), text).events
        started = events[0].workflow_execution_started_event_attributes
        program = (await converter.decode(started.input.payloads))[0]["program"]
        for event in events:
            scheduled = event.activity_task_scheduled_event_attributes
            if event.HasField("activity_task_scheduled_event_attributes") and (
                scheduled.activity_type.name == "send_notice"
            ):
                (notice,) = await converter.decode(scheduled.input.payloads, [Notice])
                found.append((program, notice))
    return found


async def test_every_notice_the_recorded_cases_of_both_programs_sent_reads_as_before(
    mail: EmailActivities,
) -> None:
    mail.portal = FixedPortal()
    intake = scenario.intake()
    recorded = await recorded_notices()
    assert {program for program, _ in recorded} == {"prudential-kh", "assist-america"}
    for _, notice in recorded:
        for audience in RECIPIENTS[notice.kind]:
            for name in ("Sokha Chan", "coordinator", "Dr. Ángel Núñez"):
                values = mail._values(notice, audience, name, mail._portal_text(notice, audience, intake))
                assert render_notice(notice.kind, values) == before(notice.kind, values), notice.notice_id
