"""What a notice puts on the wire: the bytes aiosmtplib's own serializer would write.

`SmtpMailer` serialises each message itself (`WIRE_POLICY`: compat32 without a header object
for a header that needs no folding) and names the envelope addresses, instead of handing the
message to `send_message`, which folds every header through `email.header.Header` and parses
the addresses back out of the headers. These tests hold the two to the same bytes, but for
one difference on purpose: a body line that begins "From " goes out as it is, where
aiosmtplib's generator writes ">From " (an mbox habit; SMTP has no use for it, and it
changed what the reader saw).
"""

from __future__ import annotations

import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import Message

import pytest
from aiosmtplib.email import flatten_message
from hypothesis import given, settings
from hypothesis import strategies as st

from activities.email import WIRE_POLICY, EmailActivities, Role, message_id_for
from models.notices import Notice, NoticeKind
from models.settings import Settings
from worker import Services, activities_for

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
    subject, body = mail._render(notice, Role.CUSTOMER, "Sokha Chan")
    msg = mail._message("member@example.org", subject, body, notice, message_id_for(notice.notice_id))
    assert msg.as_bytes(policy=WIRE_POLICY) == flatten_message(msg)


def test_a_body_line_beginning_from_goes_out_as_written() -> None:
    msg = Message()
    msg["Subject"] = "Case C-WIRE-2: team notice"
    msg.set_payload("Case C-WIRE-2 needs attention.\nFrom tomorrow the clock runs again.\n")
    wire = msg.as_bytes(policy=WIRE_POLICY)
    assert b"\nFrom tomorrow the clock runs again." in wire
    assert b">From" in flatten_message(msg)  # what send_message used to put on the wire
