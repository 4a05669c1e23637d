"""Holiday decrees reach running cases: `calendar_changed` moves the SLA deadline, its timers,
the SmoSlaDeadline search attribute, and tells the specialist and the coordinator.

The decree is real: the holiday-overrides file the calendar activity reads is rewritten,
then the case is signalled, as the calendar watch does. Time-skipping server.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from calendars import CalendarService
from models import search
from models.case import CaseStatus, SlaState, Stage
from models.settings import Settings
from models.sla import CalendarChange
from runtime.outbox import read_outbox
from tests import scenario
from worker import Services
from workflows.smo_case import SmoCaseWorkflow

KH_US = ["KH", "US"]
DECREE = "Sub-decree 42 on a special holiday"


@pytest.fixture
def overrides(tmp_path: Path) -> Path:
    path = tmp_path / "holiday-overrides.yaml"
    path.write_text("KH:\n  add: []\n  remove: []\n", encoding="utf-8")
    return path


@pytest.fixture
def settings(smo_home: Path, overrides: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SMO_HOLIDAY_OVERRIDES", str(overrides))
    return Settings()


def decree(path: Path, holidays: list[date]) -> None:
    added = "".join(f'\n    - {{date: {d.isoformat()}, name: "{DECREE}"}}' for d in holidays)
    path.write_text(f"KH:\n  add:{added or ' []'}\n  remove: []\n", encoding="utf-8")


def working_day_inside(status: CaseStatus, services: Services) -> date:
    """A working day strictly between the records' arrival and the deadline."""
    assert status.sla.day0 is not None and status.sla.due_at is not None
    calendars = CalendarService(services.settings.holiday_overrides).calendars(KH_US)
    day = date.fromisoformat(status.sla.day0) + timedelta(days=2)
    while not calendars.is_working_day(day):
        day += timedelta(days=1)
    assert day < status.sla.due_at.date()
    return day


async def moved(handle: scenario.Handle, count: int) -> CaseStatus:
    return await scenario.when(
        handle,
        lambda s: sum(t.event == "SLA deadline moved" for t in s.timeline) >= count and not s.pending,
        f"the deadline moved {count}x",
    )


def moved_mail(services: Services, case_id: str) -> list[tuple[str, str]]:
    return sorted(
        (str(m["Message-ID"] or ""), str(m["To"]))
        for m in read_outbox(services.settings.outbox_dir)
        if m["X-SMO-Case-Id"] == case_id and "SLA deadline moved" in str(m["Subject"])
    )


def next_working_day(services: Services, after: datetime) -> date:
    calendars = CalendarService(services.settings.holiday_overrides).calendars(KH_US)
    day = after.date() + timedelta(days=1)
    while not calendars.is_working_day(day):
        day += timedelta(days=1)
    return day


async def test_a_decree_adding_a_holiday_inside_the_window_moves_the_deadline_later_and_notifies(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services, overrides: Path
) -> None:
    handle = await scenario.start(ts_env.client, services.settings, scenario.case_input(services, "DEC-ADD"))
    review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    old_due = review.sla.due_at
    assert old_due is not None
    holiday = working_day_inside(review, services)

    decree(overrides, [holiday])
    await handle.signal(SmoCaseWorkflow.calendar_changed, CalendarChange(decree=DECREE, added=[holiday]))
    after = await moved(handle, 1)

    assert after.sla.due_at is not None
    assert after.sla.due_at.date() == next_working_day(services, old_due)
    entry = next(t for t in after.timeline if t.event == "SLA deadline moved")
    stamp = "%Y-%m-%d %H:%M"
    assert (
        entry.detail == f"{old_due.strftime(stamp)} ICT → {after.sla.due_at.strftime(stamp)} ICT ({DECREE})"
    )
    recipients = sorted(to for _, to in moved_mail(services, "DEC-ADD"))
    assert recipients == ["coordinators@example.org", "h.marsh@specialists.example.org"]
    attrs = (await handle.describe()).typed_search_attributes
    assert attrs.get(search.SLA_DEADLINE) == after.sla.due_at

    # The same decree again (or any change that leaves the deadline alone) does nothing.
    await handle.signal(SmoCaseWorkflow.calendar_changed, CalendarChange(decree=DECREE, added=[holiday]))
    await ts_env.sleep(timedelta(seconds=1))
    again = await scenario.status(handle)
    assert sum(t.event == "SLA deadline moved" for t in again.timeline) == 1
    assert len(moved_mail(services, "DEC-ADD")) == 2


async def test_a_decree_removing_a_holiday_moves_the_deadline_earlier(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services, overrides: Path
) -> None:
    handle = await scenario.start(ts_env.client, services.settings, scenario.case_input(services, "DEC-DEL"))
    review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    first_due = review.sla.due_at
    holiday = working_day_inside(review, services)
    decree(overrides, [holiday])
    await handle.signal(SmoCaseWorkflow.calendar_changed, CalendarChange(decree=DECREE, added=[holiday]))
    later = (await moved(handle, 1)).sla.due_at
    assert later is not None and first_due is not None and later > first_due

    decree(overrides, [])
    await handle.signal(
        SmoCaseWorkflow.calendar_changed, CalendarChange(decree="Sub-decree 43", removed=[holiday])
    )
    earlier = await moved(handle, 2)
    assert earlier.sla.due_at == first_due
    assert earlier.sla.state is SlaState.RUNNING
    # Idempotency keys count the moves: <case>:sla-moved:1 and :2, each to two people.
    assert len(moved_mail(services, "DEC-DEL")) == 4


async def test_a_decree_moving_the_deadline_into_the_past_breaches_exactly_once(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services, overrides: Path
) -> None:
    handle = await scenario.start(ts_env.client, services.settings, scenario.case_input(services, "DEC-PAST"))
    review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    holiday = working_day_inside(review, services)
    decree(overrides, [holiday])
    await handle.signal(SmoCaseWorkflow.calendar_changed, CalendarChange(decree=DECREE, added=[holiday]))
    later = (await moved(handle, 1)).sla.due_at
    assert later is not None and review.sla.due_at is not None
    # Past the original deadline, before the moved one: the case is not yet breached.
    now = await ts_env.get_current_time()
    await ts_env.sleep(review.sla.due_at + timedelta(hours=2) - now)
    assert (await scenario.status(handle)).sla.state is SlaState.WARNING

    decree(overrides, [])
    await handle.signal(
        SmoCaseWorkflow.calendar_changed, CalendarChange(decree="Sub-decree 43", removed=[holiday])
    )
    breached = await moved(handle, 2)
    breached = await scenario.when(
        handle, lambda s: s.sla.state is SlaState.BREACHED and not s.pending, "the breach settled"
    )
    assert breached.sla.state is SlaState.BREACHED
    assert [t.event for t in breached.timeline].count("SLA breached: reassignment offered") == 1
    assert [t.event for t in breached.timeline].count("SLA warning") == 1
    # A later decree that leaves it in the past does not breach again.
    await handle.signal(
        SmoCaseWorkflow.calendar_changed, CalendarChange(decree="Sub-decree 44", removed=[holiday])
    )
    await ts_env.sleep(timedelta(minutes=1))
    final = await scenario.status(handle)
    assert [t.event for t in final.timeline].count("SLA breached: reassignment offered") == 1
    breach_mail = [m for m in read_outbox(services.settings.outbox_dir) if "SLA BREACH" in str(m["Subject"])]
    assert len({str(m["To"]) for m in breach_mail}) == len(breach_mail) == 2


async def test_a_malformed_or_early_decree_signal_changes_nothing(
    ts_env: WorkflowEnvironment, ts_worker: Worker, services: Services, overrides: Path
) -> None:
    handle = await scenario.start(ts_env.client, services.settings, scenario.case_input(services, "DEC-BAD"))
    await scenario.until(ts_env, handle, Stage.GATHERING_RECORDS)
    # Before review there is no deadline to move; a payload that is not a CalendarChange is dropped.
    await handle.signal(
        SmoCaseWorkflow.calendar_changed, CalendarChange(decree=DECREE, added=[date(2026, 12, 3)])
    )
    await handle.signal("calendar_changed", {"decree": "", "added": ["not a date"]})
    await handle.signal("calendar_changed", "DROP TABLE cases")
    review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    await handle.signal("calendar_changed", {"decree": "x" * 500})
    await ts_env.sleep(timedelta(seconds=1))
    after = await scenario.status(handle)
    assert after.sla.due_at == review.sla.due_at
    assert not any(t.event == "SLA deadline moved" for t in after.timeline)
    assert moved_mail(services, "DEC-BAD") == []
