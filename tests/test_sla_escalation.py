"""The SLA clock in a running case: warning at 80%, breach at the deadline, a reminder every
working day after it, stop-the-clock, and reassignment after a breach. Time-skipping server."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from calendars import CalendarService, compute_due, elapsed_working_days, next_close_of_business
from models import search
from models.case import (
    AssignSpecialist,
    CaseStatus,
    InfoReason,
    RecordType,
    RequestInfo,
    SlaState,
    Stage,
    SupplyInfo,
    TimelineEntry,
)
from models.settings import Settings
from runtime.outbox import OutboxServer, read_outbox
from tests import scenario
from worker import Services, build_worker
from workflows.smo_case import SmoCaseWorkflow

KH_US = ["KH", "US"]


async def event(handle: scenario.Handle, name: str, occurrence: int = 1) -> tuple[TimelineEntry, CaseStatus]:
    current = await scenario.noted(handle, name, occurrence)
    return [t for t in current.timeline if t.event == name][occurrence - 1], current


async def skip_to(env: WorkflowEnvironment, instant: datetime) -> None:
    now = await env.get_current_time()
    if instant > now:
        await env.sleep(instant - now)


def mail_to(services: Services, case_id: str, subject_part: str) -> list[str]:
    return [
        str(m["To"])
        for m in read_outbox(services.settings.outbox_dir)
        if m["X-SMO-Case-Id"] == case_id and subject_part in str(m["Subject"])
    ]


def received_at(status: CaseStatus) -> datetime:
    return next(t.at for t in status.timeline if t.event == "records sent to specialist")


async def test_deadline_is_ten_working_days_on_both_calendars_from_receipt(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle = await scenario.start(ts_env.client, services.settings, scenario.case_input(services, "SLA-DUE"))
    review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    calendars = CalendarService(services.settings.holiday_overrides).calendars(KH_US)
    expected = compute_due(received_at(review), 10, calendars)
    assert review.sla.due_at == expected.due_at
    assert review.sla.warn_at == expected.warn_at
    assert review.sla.due_at.hour == 17 and review.sla.due_at.utcoffset() == timedelta(hours=7)
    desc = await handle.describe()
    assert desc.typed_search_attributes.get(search.SLA_STATE) == "RUNNING"
    assert desc.typed_search_attributes.get(search.SLA_DEADLINE) == review.sla.due_at


async def test_warning_at_80_percent_then_breach_at_deadline_then_day_11_reminder_to_supervisor(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle = await scenario.start(ts_env.client, services.settings, scenario.case_input(services, "SLA-LATE"))
    review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    warn_at, due_at = review.sla.warn_at, review.sla.due_at
    assert warn_at and due_at

    await skip_to(ts_env, warn_at - timedelta(minutes=1))
    before = await scenario.status(handle)
    assert before.sla.state is SlaState.RUNNING
    assert mail_to(services, "SLA-LATE", "SLA warning") == []

    await skip_to(ts_env, warn_at + timedelta(minutes=1))
    warning, current = await event(handle, "SLA warning")
    assert abs(warning.at - warn_at) < timedelta(seconds=2)
    assert current.sla.state is SlaState.WARNING
    assert sorted(mail_to(services, "SLA-LATE", "SLA warning")) == [
        "coordinators@example.org",
        "h.marsh@specialists.example.org",
    ]

    await skip_to(ts_env, due_at - timedelta(minutes=1))
    assert (await scenario.status(handle)).sla.state is SlaState.WARNING
    await skip_to(ts_env, due_at + timedelta(minutes=1))
    breach, current = await event(handle, "SLA breached: reassignment offered")
    assert abs(breach.at - due_at) < timedelta(seconds=2)
    assert current.sla.state is SlaState.BREACHED and current.reassignment_offered
    assert "supervisors@example.org" in mail_to(services, "SLA-LATE", "SLA BREACH")
    desc = await handle.describe()
    assert desc.typed_search_attributes.get(search.SLA_STATE) == "BREACHED"

    calendars = CalendarService(services.settings.holiday_overrides).calendars(KH_US)
    day_11 = next_close_of_business(due_at, calendars)
    await skip_to(ts_env, day_11 + timedelta(minutes=1))
    reminder, _ = await event(handle, "SLA breach reminder")
    assert abs(reminder.at - day_11) < timedelta(seconds=2)
    assert mail_to(services, "SLA-LATE", "SLA breach continues") == ["supervisors@example.org"]


async def test_stop_the_clock_keeps_every_working_day_used_and_restarts_with_the_rest(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle = await scenario.start(ts_env.client, services.settings, scenario.case_input(services, "SLA-STOP"))
    review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    assert review.sla.day0 and review.specialist_id
    calendars = CalendarService(services.settings.holiday_overrides).calendars(KH_US)

    await ts_env.sleep(timedelta(days=10))  # past at least one working day's close of business
    await handle.execute_update(
        SmoCaseWorkflow.request_more_info,
        RequestInfo(reason=InfoReason.MISSING_RECORD, by=review.specialist_id),
    )
    stopped, paused = await event(handle, "clock stopped: more information requested")
    used = elapsed_working_days(datetime.fromisoformat(review.sla.day0).date(), stopped.at, calendars)
    assert paused.sla.state is SlaState.PAUSED and paused.sla.elapsed_working_days == used > 0

    await ts_env.sleep(timedelta(days=30))  # no escalation fires while the clock is stopped
    idle = await scenario.status(handle)
    assert idle.sla.state is SlaState.PAUSED
    assert not any(t.event.startswith("SLA") for t in idle.timeline)

    extra = scenario.upload(services, b"additional pathology slides", RecordType.OTHER, "SLA-STOP")
    await handle.execute_update(SmoCaseWorkflow.supply_info, SupplyInfo(documents=[extra], by="coordinator"))
    restarted, running = await event(handle, "clock restarted")
    sent, _ = await event(handle, "records sent to specialist")
    # docs/sla.md: the deadline from the whole record, the stopped interval left out; no
    # partial day is lost at the restart, so it is no later than restarting from a new day 0.
    expected = compute_due(sent.at, 10, calendars, pauses=[(stopped.at, restarted.at)])
    old_rule = compute_due(restarted.at, 10, calendars, already_elapsed=used)
    assert running.sla.state in (SlaState.RUNNING, SlaState.WARNING)
    assert running.sla.due_at == expected.due_at
    assert expected.due_at <= old_rule.due_at
    # A window into a year whose holidays are not yet decreed says so in the case's status.
    assert running.sla.provisional_years == expected.provisional_years
    assert running.sla.provisional is bool(expected.provisional_years)
    assert running.records.documents == len(review.records.required) + 1


async def test_after_a_breach_the_coordinator_reassigns_and_the_clock_starts_afresh(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle = await scenario.start(
        ts_env.client, services.settings, scenario.case_input(services, "SLA-REASSIGN")
    )
    review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    assert review.sla.due_at
    await skip_to(ts_env, review.sla.due_at + timedelta(hours=1))
    await event(handle, "SLA breached: reassignment offered")
    await handle.execute_update(
        SmoCaseWorkflow.assign_specialist, AssignSpecialist(specialist_id="SP-ONC-002", by="supervisor")
    )
    now = await scenario.when(
        handle,
        lambda s: s.specialist_id == "SP-ONC-002" and s.sla.state is SlaState.RUNNING,
        "SP-ONC-002 on a running clock",
    )
    assert now.specialist_id == "SP-ONC-002" and not now.reassignment_offered
    assert now.sla.due_at and now.sla.due_at > review.sla.due_at


async def test_a_holiday_decree_added_while_a_case_runs_moves_its_restarted_deadline(
    smo_home: Path, monkeypatch: pytest.MonkeyPatch, ts_env: WorkflowEnvironment
) -> None:
    decree = smo_home / "holiday-overrides.yaml"
    decree.write_text("KH: {add: [], remove: []}\n")
    monkeypatch.setenv("SMO_HOLIDAY_OVERRIDES", str(decree))
    settings = Settings()
    with OutboxServer(settings.outbox_dir, settings.smtp_host, settings.smtp_port):
        services = Services.from_settings(settings)
        async with build_worker(ts_env.client, services, workflow_failure_exception_types=[Exception]):
            handle = await scenario.start(
                ts_env.client, settings, scenario.case_input(services, "SLA-DECREE")
            )
            review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
            assert review.specialist_id and review.sla.due_at
            await handle.execute_update(
                SmoCaseWorkflow.request_more_info,
                RequestInfo(reason=InfoReason.CLARIFICATION, by=review.specialist_id),
            )
            await event(handle, "clock stopped: more information requested")
            calendars = CalendarService(None).calendars(KH_US)
            # Cambodia declares an extra public holiday on the first working day of the new count.
            resume_at = await ts_env.get_current_time()
            before = compute_due(resume_at, 10, calendars)
            extra = next(
                d
                for d in (before.day0 + timedelta(days=i) for i in range(1, 10))
                if calendars.is_working_day(d)
            )
            decree.write_text(f"KH:\n  add:\n    - {{date: {extra.isoformat()}, name: Special holiday}}\n")
            await handle.execute_update(SmoCaseWorkflow.supply_info, SupplyInfo(by="coordinator"))
            restarted, running = await event(handle, "clock restarted")
            without = compute_due(restarted.at, 10, calendars)
            assert running.sla.due_at is not None and running.sla.due_at > without.due_at
            with_decree = compute_due(restarted.at, 10, CalendarService(decree).calendars(KH_US))
            assert running.sla.due_at == with_decree.due_at
        services.engine.dispose()


async def test_a_report_that_arrives_while_the_clock_is_stopped_is_delivered(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services
) -> None:
    handle = await scenario.start(
        ts_env.client, services.settings, scenario.case_input(services, "SLA-EARLY")
    )
    review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    assert review.specialist_id
    await handle.execute_update(
        SmoCaseWorkflow.request_more_info,
        RequestInfo(reason=InfoReason.CLARIFICATION, by=review.specialist_id),
    )
    await event(handle, "clock stopped: more information requested")
    # The specialist decides the records suffice after all and reports.
    await scenario.submit_report(handle, services, review.specialist_id)
    delivered = await scenario.until(ts_env, handle, Stage.REPORT_DELIVERED)
    assert delivered.sla.state is SlaState.MET
