"""A consult's whole life on the time-skipping server: booked with its invitation, reminded
24 hours and 1 hour before on durable timers, moved (its invitation one SEQUENCE up),
reminded again for the new time, missed by the specialist (the supervisor told, the member's
next booking free), booked again for free, and asked after when nobody says how it went.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from icalendar import Calendar
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models import search
from models.case import Close, Stage
from models.consult import BookConsult, CompleteConsult, ConsultOutcome, RescheduleConsult
from runtime.outbox import read_outbox
from tests import scenario
from tests.polling import eventually
from worker import Services
from workflows.smo_case import SmoCaseWorkflow

MEMBER = "sokha.chan@example.com"
SPECIALIST = "h.marsh@specialists.example.org"  # SP-ONC-001, the first oncologist assigned
MINUTE = timedelta(minutes=1)


def notices(services: Services, kind: str) -> list[EmailMessage]:
    """The messages sent for notices of `kind`, oldest first."""
    return [m for m in read_outbox(services.settings.outbox_dir) if f":{kind}:" in str(m["X-SMO-Notice-Id"])]


async def sent(services: Services, kind: str, count: int) -> list[EmailMessage]:
    """Until `count` messages of `kind` are in the outbox (each recipient's is one)."""
    return await eventually(
        lambda: _now(notices(services, kind)),
        lambda found: len(found) >= count,
        what=lambda found: f"{len(found)} {kind} messages, wanted {count}",
    )


async def _now(value: list[EmailMessage]) -> list[EmailMessage]:
    return value


def invitation(msg: EmailMessage) -> tuple[str, int, datetime, str]:
    """The calendar part's METHOD, SEQUENCE, DTSTART in UTC and UID."""
    (part,) = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    calendar = Calendar.from_ical(part.get_content())
    (event,) = calendar.walk("VEVENT")
    start = event.decoded("dtstart").astimezone(UTC)
    return str(calendar["method"]), int(str(event["sequence"])), start, str(event["uid"])


async def attention(handle: scenario.Handle) -> str | None:
    """The case's SmoAttention, where supervisors filter for cases that need a person."""
    return (await handle.describe()).typed_search_attributes.get(search.ATTENTION)


def to(messages: list[EmailMessage], address: str) -> list[EmailMessage]:
    return [m for m in messages if m["To"] == address]


async def test_a_consult_is_reminded_moved_missed_rebooked_and_asked_after(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle = await scenario.start(
        ts_env.client, services.settings, scenario.case_input(services, "KH-CONSULT-LIFE")
    )
    review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    assert review.specialist_id == "SP-ONC-001"
    await scenario.submit_report(handle, services, review.specialist_id)
    await scenario.until(ts_env, handle, Stage.REPORT_DELIVERED)

    # Booked three days ahead: free, with an invitation to each side.
    now = await ts_env.get_current_time()
    slot = (now + timedelta(days=3)).replace(second=0, microsecond=0)
    ack = await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="coordinator"))
    assert ack.detail == "free"
    booked = await sent(services, "consult_booked", 2)
    method, sequence, start, uid = invitation(to(booked, MEMBER)[0])
    assert (method, sequence, start) == ("REQUEST", 0, slot.astimezone(UTC))
    assert invitation(to(booked, SPECIALIST)[0])[3] == uid

    # 24 hours before: both sides are reminded; nothing else yet.
    await ts_env.sleep(slot - timedelta(hours=24) - await ts_env.get_current_time() + MINUTE)
    reminders = await sent(services, "consult_reminder", 2)
    assert {m["To"] for m in reminders} == {MEMBER, SPECIALIST}

    # Moved a day later (the slot rule is the case service's; the case takes the move): the
    # same event, one SEQUENCE up, and the reminders start again for the new time.
    moved_to = slot + timedelta(days=1)
    ack = await handle.execute_update(
        SmoCaseWorkflow.reschedule_consult, RescheduleConsult(number=1, slot=moved_to, by="coordinator")
    )
    assert ack.detail == "sequence 1"
    moved = await sent(services, "consult_rescheduled", 2)
    method, sequence, start, moved_uid = invitation(to(moved, MEMBER)[0])
    assert (method, sequence, start, moved_uid) == ("REQUEST", 1, moved_to.astimezone(UTC), uid)
    await ts_env.sleep(moved_to - timedelta(hours=1) - await ts_env.get_current_time() + MINUTE)
    reminders = await sent(services, "consult_reminder", 6)  # 24 h and 1 h before the new time
    assert sum(":1-1-1h" in str(m["X-SMO-Notice-Id"]) for m in reminders) == 2

    # The specialist never called: the supervisor hears of it, the case is flagged, and the
    # member's next booking is free.
    await ts_env.sleep(moved_to - await ts_env.get_current_time() + 10 * MINUTE)
    outcome = CompleteConsult(by="coordinator", outcome=ConsultOutcome.SPECIALIST_ABSENT)
    ack = await handle.execute_update(SmoCaseWorkflow.complete_consult, outcome)
    assert ack.detail == "the next booking is free"
    current = await scenario.status(handle)
    assert current.consult_rebook_free == 1 and not current.consult_pending
    missed = await sent(services, "consult_missed", 2)
    assert {m["To"] for m in missed} == {MEMBER, services.settings.supervisor_email}
    assert await attention(handle) == "consult specialist absent"
    assert current.timeline[-1].event == "consult missed"

    # Booked again: free (the member's one free consult was not spent), the flag cleared.
    again = (await ts_env.get_current_time() + timedelta(days=2)).replace(second=0, microsecond=0)
    ack = await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=again, by="member"))
    assert ack.detail == "free"
    current = await scenario.status(handle)
    assert current.consult_number == 2 and current.consult_rebook_free == 0
    assert await attention(handle) is None

    # Nobody says how it went: two hours after its end the specialist and the desk are asked.
    await ts_env.sleep(again + timedelta(minutes=30, hours=2) - await ts_env.get_current_time() + MINUTE)
    asked = await sent(services, "consult_check", 2)
    assert {m["To"] for m in asked} == {SPECIALIST, services.settings.coordinator_email}
    await scenario.when(handle, lambda st: st.consult_outcome_asked, "the question asked")
    assert await attention(handle) == "consult outcome unknown"

    ack = await handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="coordinator"))
    current = await scenario.status(handle)
    assert not current.consult_outcome_asked and current.consults_completed == 1
    assert await attention(handle) is None
    await handle.execute_update(SmoCaseWorkflow.close, Close(by="coordinator"))
    result = await handle.result()
    assert result.stage is Stage.CLOSED and result.charges == 0

    runs = await scenario.runs(ts_env.client, handle.id)
    print(f"events per run: {[len(h.events) for h in runs]}")
