"""What a notice puts on the wire: the bytes aiosmtplib's own serializer would write, and the
words of every notice the recorded cases sent, as each of its readers reads them.

`SmtpMailer` serialises each message itself (`WIRE_POLICY`: compat32 without a header object
for a header that needs no folding) and names the envelope addresses, instead of handing the
message to `send_message`, which folds every header through `email.header.Header` and parses
the addresses back out of the headers. These tests hold the two to the same bytes, but for
one difference on purpose: a body line that begins "From " goes out as it is, where
aiosmtplib's generator writes ">From " (an mbox habit; SMTP has no use for it, and it
changed what the reader saw).

The recorded cases of both programs (tests/histories/) sent their notices with English words
in their params, before the workflow sent codes: each still reads whole, in either language,
and any value at all goes out as it was given. tests/test_notice_languages.py holds the
notices to their languages, zones and words.
"""

from __future__ import annotations

import email.policy
import re
import tomllib
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path

import pytest
from aiosmtplib.email import flatten_message
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from temporalio.client import WorkflowHistory

from activities.notice_templates import TEMPLATES, render_notice, render_portal_text
from activities.notice_values import Reader
from activities.notices import RECIPIENTS, Audience, EmailActivities, message_id_for
from models.notices import Notice, NoticeKind
from models.vocabulary import Language
from runtime.mail import WIRE_POLICY
from runtime.words import record_type
from security.codec import data_converter
from security.keys import KeyRing
from tests import notice_mail, scenario
from tests.record_histories import HISTORIES_DIR, fixture_key_spec, workflow_id_for_history

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


mail = notice_mail.mail


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
    for language in Language:
        subject, body = mail._render(notice, Reader(Audience.CUSTOMER, "Sokha Chan", language))
        message_id = message_id_for(notice.notice_id)
        msg = mail._message("member@example.org", subject, body, notice, message_id, language)
        assert msg["Content-Language"] == language.value
        assert msg.as_bytes(policy=WIRE_POLICY) == flatten_message(msg)


def test_a_body_line_beginning_from_goes_out_as_written() -> None:
    msg = Message()
    msg["Subject"] = "Case C-WIRE-2: team notice"
    msg.set_payload("Case C-WIRE-2 needs attention.\nFrom tomorrow the clock runs again.\n")
    wire = msg.as_bytes(policy=WIRE_POLICY)
    assert b"\nFrom tomorrow the clock runs again." in wire
    assert b">From" in flatten_message(msg)  # what send_message used to put on the wire


# ---- the words ------------------------------------------------------------------------------

# Text that a template language could take for its own: `$`, braces, `%`, `#`, line ends.
VALUE_TEXT = st.text(alphabet="${}%#\n\r\\ x()s", max_size=12) | st.text(max_size=40)
# A template's own placeholder left unfilled, or a catalog's.
UNFILLED = re.compile(r"\$[a-z_]+\b|%\(")


def test_every_notice_kind_has_its_template_and_every_template_a_kind() -> None:
    assert {p.stem for p in TEMPLATES.glob("*.txt")} == {k.value for k in NoticeKind}
    assert set(RECIPIENTS) == set(NoticeKind)


def test_every_template_is_package_data() -> None:
    # The templates are package data: an install that is not editable has them too.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["activities"]
    package = ROOT / "activities"
    files = [p.relative_to(package) for p in TEMPLATES.rglob("*") if p.is_file()]
    assert files
    assert [f for f in files if not any(f.match(g) for g in globs)] == []


@settings(max_examples=200, deadline=None)
@given(case_id=VALUE_TEXT, item=VALUE_TEXT, language=st.sampled_from(list(Language)))
def test_any_value_goes_out_as_it_was_given(case_id: str, item: str, language: Language) -> None:
    # Nothing in a value is read as template or catalog syntax: `%(x)s`, `{{ }}`, `$name`.
    subject, body = render_notice(NoticeKind.TEAM_NOTIFIED, {"case_id": case_id, "item": item}, language)
    # The same words as with markers in place of the values, each value where its marker was.
    assume("\ue000" not in case_id + item and "\ue001" not in case_id + item)
    marked = render_notice(NoticeKind.TEAM_NOTIFIED, {"case_id": "\ue000", "item": "\ue001"}, language)
    expected = tuple(t.replace("\ue000", case_id).replace("\ue001", item) for t in marked)
    assert (subject, body) == expected
    if language is Language.EN:
        assert (subject, body) == (f"Case {case_id}: {item}", f"Case {case_id}: {item}.\n")


@settings(max_examples=100, deadline=None)
@given(url=VALUE_TEXT, until=VALUE_TEXT)
def test_the_portal_paragraphs_set_the_link_apart_on_its_own_line(url: str, until: str) -> None:
    assert render_portal_text("sign_in", url=url, until=until) == (
        "\nSign in to your case page to see where it stands, add documents or change your contact"
        f" details:\n  {url}\nThe link works once, until {until}. You will be asked for your date of birth.\n"
    )
    assert render_portal_text("assignment", url=url) == (
        f"\nYour page for this assignment (records, report, questions, decline):\n  {url}\n"
    )


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


async def test_every_notice_the_recorded_cases_of_both_programs_sent_reads_whole_to_each_reader(
    mail: EmailActivities,
) -> None:
    # Sent before notices named their program and carried codes: English words in their params.
    mail.portal = notice_mail.FixedPortal()
    intake = scenario.intake()
    recorded = await recorded_notices()
    assert {program for program, _ in recorded} == {"prudential-kh", "assist-america"}
    # Most were recorded before notices named their program; a later recording names it.
    older = [notice for _, notice in recorded if notice.program is None]
    assert {n.kind for n in older} >= {NoticeKind.CASE_OPENED, NoticeKind.REPORT_DELIVERED}
    for _, notice in recorded:
        for audience in RECIPIENTS[notice.kind]:
            for language in Language if audience is Audience.CUSTOMER else [Language.EN]:
                reader = Reader(audience, "Sokha Chan", language)
                subject, body = mail._render(notice, reader, mail._portal_text(notice, reader, intake))
                assert not UNFILLED.search(subject + body), (notice.notice_id, subject, body)
                assert "Sokha Chan" in body or "Dear" not in body
    # "discharge summary, treatment plan": named as the codes are ("Hospital discharge summary").
    opened = next(n for n in older if n.kind is NoticeKind.CASE_OPENED and n.params["records"])
    english = opened.params["records"].split(", ")
    named = ", ".join(record_type(w.replace(" ", "_"), Language.EN) for w in english)
    _, body = mail._render(opened, Reader(Audience.CUSTOMER, "Sokha Chan"))
    assert f"Please send us: {named}." in body, body
