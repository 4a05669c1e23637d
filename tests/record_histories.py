"""Record complete case histories into tests/histories/ for the replay tests.

    .venv/bin/python -m tests.record_histories            # every scenario
    .venv/bin/python -m tests.record_histories NAME ...   # only these

Each scenario runs one or more cases to the end on a fresh time-skipping test server
and writes `tests/histories/<name>.json`; a case that continued as new writes its earlier
runs beside it as `<name>@run<N>.json`. Record only NEW behaviour: histories of the
old behaviour stay in the folder for as long as such runs may still be open
(CONTRIBUTING.md, "Changing workflow code").

Payloads are encrypted with the fixed test key in tests/histories/codec-keys.txt, so
the replay test can decrypt them. That key is for synthetic test data only; the
scenario data (tests/scenario.py) is invented and the histories carry no real PHI.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from models.case import (
    AddRecords,
    AssignSpecialist,
    BookConsult,
    Cancel,
    Close,
    CompleteConsult,
    CompleteRecords,
    Decline,
    InfoReason,
    RecordType,
    RequestInfo,
    RequestThirdOpinion,
    SlaState,
    Stage,
    SupplyInfo,
    workflow_id_for,
)
from models.consent import CONSENT_VERSION, ConsentMethod, GiveConsent, WithdrawConsent
from models.consult import ConsultOutcome, RescheduleConsult
from models.settings import Settings
from models.sla import CalendarChange
from runtime.outbox import OutboxServer
from runtime.secrets import ensure_dev_secrets
from runtime.temporal import binary, converter_for, ensure_search_attributes
from tests import scenario
from tests.history_gathering import prudential_records_from_a_hospital
from tests.history_opinion import prudential_opinion_and_follow_up, prudential_opinion_in_khmer_and_doctor
from worker import Services, build_worker
from workflows.smo_case import SmoCaseWorkflow

HISTORIES_DIR = Path(__file__).resolve().parent / "histories"
KEYS_FILE = HISTORIES_DIR / "codec-keys.txt"
ONCOLOGY = ("SP-ONC-001", "SP-ONC-002", "SP-ONC-003")


def fixture_key_spec() -> str:
    """The test-only codec key ring spec the histories were recorded with."""
    lines = KEYS_FILE.read_text(encoding="utf-8").splitlines()
    return ",".join(s for line in lines if (s := line.strip()) and not s.startswith("#"))


def case_id_for(name: str) -> str:
    return f"REC-{name}"


def workflow_id_for_history(name: str) -> str:
    """The workflow id a recorded history `<name>.json` (or `<name>@run<N>.json`) ran under."""
    return workflow_id_for(case_id_for(name.split("@", 1)[0]))


# ---- the stack: the fixtures of tests/conftest.py, outside pytest --------------------------


@dataclass
class Stack:
    env: WorkflowEnvironment
    services: Services
    settings: Settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def stack(root: Path) -> AsyncIterator[Stack]:
    home = root / f"smo-{uuid.uuid4().hex[:8]}"
    ensure_dev_secrets(home)
    # A decree scenario rewrites the overrides: a copy of the (empty) repository file per stack.
    overrides = home / "holiday-overrides.yaml"
    overrides.write_text("KH:\n  add: []\n  remove: []\n", encoding="utf-8")
    os.environ.update(
        SMO_HOME=str(home),
        # Overrides the random key in secrets.env: see the module docstring.
        SMO_CODEC_KEYS=fixture_key_spec(),
        SMO_SMTP_PORT=str(_free_port()),
        SMO_WEB_PORT=str(_free_port()),
        SMO_TEMPORAL_ADDRESS=f"127.0.0.1:{_free_port()}",
        SMO_TASK_QUEUE=f"smo-record-{uuid.uuid4().hex[:8]}",
        SMO_HOLIDAY_OVERRIDES=str(overrides),
    )
    os.environ.pop("DATABASE_URL", None)
    settings = Settings()
    with OutboxServer(settings.outbox_dir, settings.smtp_host, settings.smtp_port):
        services = Services.from_settings(settings)
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=binary("temporal-test-server"),
            data_converter=converter_for(settings),
        )
        try:
            await ensure_search_attributes(env.client, env.client.namespace)
            worker = build_worker(env.client, services, workflow_failure_exception_types=[Exception])
            async with worker:
                yield Stack(env, services, settings)
        finally:
            await env.shutdown()
            services.engine.dispose()


# ---- steps -----------------------------------------------------------------------------------


async def _open(s: Stack, name: str, program: str = "prudential-kh", **kw: Any) -> scenario.Handle:
    inp = scenario.case_input(s.services, case_id_for(name), program, **kw)
    return await scenario.start(s.env.client, s.settings, inp)


async def _slot(s: Stack, days: int = 2) -> datetime:
    return (await s.env.get_current_time()) + timedelta(days=days)


async def _report_and_deliver(s: Stack, handle: scenario.Handle, specialist_id: str) -> None:
    await scenario.submit_report(handle, s.services, specialist_id)
    await scenario.until(s.env, handle, Stage.REPORT_DELIVERED)


async def _consult(s: Stack, handle: scenario.Handle, expect: str) -> None:
    ack = await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=await _slot(s), by="c"))
    assert ack.detail == expect, ack
    await handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="c"))


async def _close(handle: scenario.Handle, expect: Stage = Stage.CLOSED) -> None:
    await handle.execute_update(SmoCaseWorkflow.close, Close(by="c"))
    result = await handle.result()
    assert result.stage is expect, result


# ---- scenarios -------------------------------------------------------------------------------
# Each returns the names of the cases it ran; a case named N runs as workflow_id_for_history(N).


async def prudential_happy_path(s: Stack) -> list[str]:
    name = "prudential-happy-path"
    handle = await _open(s, name)
    review = await scenario.to_review(s.env, handle, s.services, "prudential-kh")
    assert review.specialist_id
    await _report_and_deliver(s, handle, review.specialist_id)
    await _consult(s, handle, "free")
    await _close(handle)
    return [name]


async def prudential_billed_second_consult(s: Stack) -> list[str]:
    name = "prudential-billed-second-consult"
    handle = await _open(s, name)
    review = await scenario.to_review(s.env, handle, s.services, "prudential-kh")
    assert review.specialist_id
    await _report_and_deliver(s, handle, review.specialist_id)
    await _consult(s, handle, "free")
    await _consult(s, handle, "billed")
    await _close(handle)
    return [name]


async def prudential_decline_and_reassign(s: Stack) -> list[str]:
    name = "prudential-decline-and-reassign"
    handle = await _open(s, name)
    review = await scenario.to_review(s.env, handle, s.services, "prudential-kh")
    first = review.specialist_id
    assert first
    await handle.execute_update(
        SmoCaseWorkflow.decline, Decline(specialist_id=first, reason="conflict of schedule", by=first)
    )
    second = await scenario.when(
        handle,
        lambda st: (
            st.specialist_id not in (None, first)
            and st.sla.due_at is not None
            and st.stage is Stage.UNDER_REVIEW
        ),
        "an automatic reassignment",
    )
    assert second.specialist_id
    third = next(sp for sp in ONCOLOGY if sp not in (first, second.specialist_id))
    await handle.execute_update(
        SmoCaseWorkflow.assign_specialist, AssignSpecialist(specialist_id=third, by="c")
    )
    await scenario.when(
        handle,
        lambda st: st.specialist_id == third and st.sla.state is SlaState.RUNNING,
        "the coordinator's reassignment",
    )
    await _report_and_deliver(s, handle, third)
    await _close(handle)
    return [name]


async def prudential_stop_the_clock(s: Stack) -> list[str]:
    name = "prudential-stop-the-clock"
    handle = await _open(s, name)
    review = await scenario.to_review(s.env, handle, s.services, "prudential-kh")
    assert review.specialist_id
    await s.env.sleep(timedelta(days=2))
    await handle.execute_update(
        SmoCaseWorkflow.request_more_info,
        RequestInfo(
            reason=InfoReason.MISSING_RECORD, record_types=[RecordType.IMAGING], by=review.specialist_id
        ),
    )
    await scenario.when(handle, lambda st: st.sla.state is SlaState.PAUSED, "the clock stopped")
    await s.env.sleep(timedelta(days=3))
    imaging = scenario.upload(
        s.services, b"CT chest, synthetic test image", RecordType.IMAGING, scenario.case_of(handle)
    )
    await handle.execute_update(SmoCaseWorkflow.supply_info, SupplyInfo(documents=[imaging], by="c"))
    await scenario.noted(handle, "clock restarted")
    await _report_and_deliver(s, handle, review.specialist_id)
    await _close(handle)
    return [name]


async def prudential_sla_breach(s: Stack) -> list[str]:
    name = "prudential-sla-breach"
    handle = await _open(s, name)
    review = await scenario.to_review(s.env, handle, s.services, "prudential-kh")
    assert review.specialist_id and review.sla.warn_at and review.sla.due_at
    minute = timedelta(minutes=1)
    await s.env.sleep(review.sla.warn_at - await s.env.get_current_time() + minute)
    await scenario.noted(handle, "SLA warning")
    await s.env.sleep(review.sla.due_at - await s.env.get_current_time() + minute)
    breached = await scenario.noted(handle, "SLA breached: reassignment offered")
    assert breached.reassignment_offered and breached.sla.state is SlaState.BREACHED
    for _ in range(5):  # the reminder comes at the next close of business on a working day
        await s.env.sleep(timedelta(days=1))
        current = await scenario.status(handle)
        if any(t.event == "SLA breach reminder" for t in current.timeline):
            break
    await scenario.noted(handle, "SLA breach reminder")
    await _report_and_deliver(s, handle, review.specialist_id)
    await _close(handle)
    return [name]


async def prudential_breach_continued(s: Stack) -> list[str]:
    """Breached for a month with a small history budget: the recorded run is the last one,
    which starts from the carried state (the resume path replays too)."""
    name = "prudential-breach-continued"
    first = await _open(s, name, history_budget=60)
    review = await scenario.to_review(s.env, first, s.services, "prudential-kh")
    assert review.specialist_id and review.sla.due_at
    await s.env.sleep(review.sla.due_at - await s.env.get_current_time() + timedelta(days=30))
    # The current run.
    handle: scenario.Handle = s.env.client.get_workflow_handle_for(SmoCaseWorkflow.run, first.id)
    await scenario.noted(handle, "history continued in a new run")
    await _report_and_deliver(s, handle, review.specialist_id)
    await _close(handle)
    return [name]


async def prudential_deadline_moved_by_decree(s: Stack) -> list[str]:
    name = "prudential-deadline-moved-by-decree"
    handle = await _open(s, name)
    review = await scenario.to_review(s.env, handle, s.services, "prudential-kh")
    assert review.specialist_id and review.sla.day0 and review.sla.due_at
    calendars = s.services.calendars.calendars(["KH", "US"])
    holiday = date.fromisoformat(review.sla.day0) + timedelta(days=2)
    while not calendars.is_working_day(holiday):
        holiday += timedelta(days=1)
    overrides = s.settings.holiday_overrides
    assert overrides is not None and overrides.is_relative_to(s.settings.home)  # never the repository's file
    overrides.write_text(
        f'KH:\n  add:\n    - {{date: {holiday.isoformat()}, name: "Special holiday"}}\n  remove: []\n',
        encoding="utf-8",
    )
    await handle.signal(
        SmoCaseWorkflow.calendar_changed, CalendarChange(decree="Sub-decree 1", added=[holiday])
    )
    await scenario.noted(handle, "SLA deadline moved")
    await _report_and_deliver(s, handle, review.specialist_id)
    await _close(handle)
    return [name]


async def prudential_records_lapse(s: Stack) -> list[str]:
    name = "prudential-records-lapse"
    handle = await _open(s, name)
    result = await handle.result()  # three reminders, no records: the case lapses
    assert result.stage is Stage.LAPSED, result
    return [name]


async def prudential_ineligible_lapsed_policy(s: Stack) -> list[str]:
    name = "prudential-ineligible-lapsed-policy"
    patient = scenario.intake("prudential-kh", policy_number="KH-DEMO-0002")
    handle = await _open(s, name, patient=patient)
    result = await handle.result()  # the override window passes without an override
    assert result.stage is Stage.INELIGIBLE, result
    return [name]


async def prudential_cancelled(s: Stack) -> list[str]:
    name = "prudential-cancelled"
    handle = await _open(s, name)
    await scenario.to_review(s.env, handle, s.services, "prudential-kh")
    await handle.execute_update(SmoCaseWorkflow.cancel, Cancel(reason="member withdrew the request", by="c"))
    result = await handle.result()
    assert result.stage is Stage.CANCELLED, result
    return [name]


async def prudential_third_opinion(s: Stack) -> list[str]:
    name = "prudential-third-opinion"
    handle = await _open(s, name)
    review = await scenario.to_review(s.env, handle, s.services, "prudential-kh")
    first = review.specialist_id
    assert first
    await _report_and_deliver(s, handle, first)
    ack = await handle.execute_update(SmoCaseWorkflow.request_third_opinion, RequestThirdOpinion(by="c"))
    assert ack.detail == "billed", ack
    again = await scenario.when(
        handle,
        lambda st: (
            st.stage is Stage.UNDER_REVIEW
            and st.specialist_id not in (None, first)
            and st.sla.due_at is not None
            and st.sla.state is SlaState.RUNNING
        ),
        "a second specialist",
    )
    assert again.specialist_id
    await scenario.submit_report(handle, s.services, again.specialist_id)
    await scenario.when(
        handle,
        lambda st: len(st.report_doc_ids) == 2 and st.stage is Stage.REPORT_DELIVERED,
        "the second report",
    )
    await _close(handle)
    return [name]


async def assist_america_follow_up(s: Stack) -> list[str]:
    original, follow_up = "assist-america-original", "assist-america-follow-up"
    program = "assist-america"
    handle = await _open(s, original, program)
    review = await scenario.to_review(s.env, handle, s.services, program)
    assert review.specialist_id
    await _report_and_deliver(s, handle, review.specialist_id)
    await _consult(s, handle, "free")
    await _close(handle)

    handle = await _open(s, follow_up, program, follow_up_of=case_id_for(original))
    review = await scenario.to_review(s.env, handle, s.services, program)
    assert review.specialist_id and review.follow_up_of == case_id_for(original)
    late = scenario.upload(
        s.services, b"Lab results, synthetic, added late", RecordType.LAB_RESULT, scenario.case_of(handle)
    )
    await handle.execute_update(SmoCaseWorkflow.add_record, AddRecords(documents=[late], by="member"))
    await scenario.noted(handle, "records added")
    await _report_and_deliver(s, handle, review.specialist_id)
    await _consult(s, handle, "free")
    await _consult(s, handle, "free")
    await _close(handle)
    return [original, follow_up]


async def assist_america_consent(s: Stack) -> list[str]:
    """Held before assignment until the member consents in the portal; withdrawn after the report."""
    name = "assist-america-consent"
    program = "assist-america"
    handle = await _open(s, name, program)
    await scenario.until(s.env, handle, Stage.GATHERING_RECORDS)
    docs = scenario.required_records(s.services, program, scenario.case_of(handle))
    await handle.execute_update(SmoCaseWorkflow.add_record, AddRecords(documents=docs, by="coordinator"))
    await handle.execute_update(SmoCaseWorkflow.mark_records_complete, CompleteRecords(by="coordinator"))
    held = await scenario.when(handle, lambda st: st.consent.waiting, "the case waiting for consent")
    assert held.specialist_id is None
    member = f"member:{case_id_for(name)}"
    consent = GiveConsent(method=ConsentMethod.PORTAL, version=CONSENT_VERSION, by=member)
    await handle.execute_update(SmoCaseWorkflow.give_consent, consent)
    review = await scenario.until(s.env, handle, Stage.UNDER_REVIEW)
    assert review.specialist_id
    await _report_and_deliver(s, handle, review.specialist_id)
    await handle.execute_update(SmoCaseWorkflow.withdraw_consent, WithdrawConsent(by=member))
    await _consult(s, handle, "free")
    await _close(handle)
    return [name]


async def prudential_member_uploads(s: Stack) -> list[str]:
    """A history budget of 80: the member uploads one file at a time (the case continues as
    new while gathering records), then two further consults continue it again."""
    name = "prudential-member-uploads"
    handle = await _open(s, name, history_budget=80)
    await scenario.until(s.env, handle, Stage.GATHERING_RECORDS)
    case_id = scenario.case_of(handle)
    uploads = scenario.required_records(s.services, "prudential-kh", case_id) + [
        scenario.upload(s.services, f"imaging, page {n}".encode(), RecordType.IMAGING, case_id)
        for n in range(8)
    ]
    for doc in uploads:
        await handle.execute_update(SmoCaseWorkflow.add_record, AddRecords(documents=[doc], by="member"))
    await scenario.noted(handle, "history continued in a new run")
    await scenario.attest_consent(handle, s.services)
    await handle.execute_update(SmoCaseWorkflow.mark_records_complete, CompleteRecords(by="coordinator"))
    review = await scenario.until(s.env, handle, Stage.UNDER_REVIEW)
    assert review.specialist_id
    await _report_and_deliver(s, handle, review.specialist_id)
    for expect in ("free", "billed", "billed"):
        await _consult(s, handle, expect)
        await scenario.settled(handle)
    await _close(handle)
    return [name]


async def prudential_consult_moved_and_missed(s: Stack) -> list[str]:
    """A consult reminded, moved, missed by the specialist, rebooked free, asked after, held."""
    name = "prudential-consult-moved-and-missed"
    handle = await _open(s, name)
    review = await scenario.to_review(s.env, handle, s.services, "prudential-kh")
    assert review.specialist_id
    await _report_and_deliver(s, handle, review.specialist_id)
    slot = await _slot(s, days=3)
    await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="c"))
    await s.env.sleep(timedelta(days=2, hours=1))  # the 24-hour reminder
    await scenario.settled(handle)
    moved = slot + timedelta(days=1)
    move = RescheduleConsult(number=1, slot=moved, by="c")
    await handle.execute_update(SmoCaseWorkflow.reschedule_consult, move)
    await s.env.sleep(moved - await s.env.get_current_time() + timedelta(minutes=10))
    await scenario.settled(handle)
    absent = CompleteConsult(by="c", outcome=ConsultOutcome.SPECIALIST_ABSENT)
    await handle.execute_update(SmoCaseWorkflow.complete_consult, absent)
    again = await _slot(s, days=2)
    ack = await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=again, by="c"))
    assert ack.detail == "free", ack
    await s.env.sleep(again - await s.env.get_current_time() + timedelta(hours=3))  # asked after
    await scenario.when(handle, lambda st: st.consult_outcome_asked and not st.pending, "the question")
    await handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="c"))
    await _close(handle)
    return [name]


SCENARIOS: dict[str, Callable[[Stack], Awaitable[list[str]]]] = {
    fn.__name__.replace("_", "-"): fn
    for fn in (
        prudential_happy_path,
        prudential_billed_second_consult,
        prudential_decline_and_reassign,
        prudential_stop_the_clock,
        prudential_sla_breach,
        prudential_breach_continued,
        prudential_deadline_moved_by_decree,
        prudential_records_lapse,
        prudential_ineligible_lapsed_policy,
        prudential_cancelled,
        prudential_third_opinion,
        assist_america_follow_up,
        assist_america_consent,
        prudential_member_uploads,
        prudential_consult_moved_and_missed,
        prudential_records_from_a_hospital,
        prudential_opinion_and_follow_up,
        prudential_opinion_in_khmer_and_doctor,
    )
}


async def record(names: list[str]) -> list[Path]:
    HISTORIES_DIR.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="smo-record-") as tmp:
        for scenario_name in names:
            async with stack(Path(tmp)) as s:
                for name in await SCENARIOS[scenario_name](s):
                    *earlier, last = await scenario.runs(s.env.client, workflow_id_for_history(name))
                    files = [(f"{name}@run{n}", h) for n, h in enumerate(earlier, 1)] + [(name, last)]
                    for stem, history in files:
                        path = HISTORIES_DIR / f"{stem}.json"
                        path.write_text(history.to_json() + "\n", encoding="utf-8")
                        written.append(path)
                        print(
                            f"{path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}:"
                            f" {len(history.events)} events, {path.stat().st_size} bytes"
                        )
    return written


def main(argv: list[str]) -> int:
    unknown = [n for n in argv if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    asyncio.run(record(argv or list(SCENARIOS)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
