"""End to end: a case under review, a decree saved that makes its due date a public holiday,
and the case's `status().sla.due_at` moves to the next working day's close of business,
on the time-skipping server and on the real dev server with one worker (`smo dev`'s stack);
taking the decree back moves it back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from calendars import CalendarSet, parse_overrides
from models import search
from models.case import CaseStatus
from models.settings import Settings
from runtime.temporal import connect
from starter.dev import DevStack
from tests import scenario
from worker import Services
from workflows.calendar_watch import (
    WATCH_WORKFLOW_ID,
    CalendarWatchWorkflow,
    WatchState,
    start_calendar_watch,
)

ICT = ZoneInfo("Asia/Phnom_Penh")
NO_DECREE = "KH: {add: []}\nUS: {add: []}\n"


@pytest.fixture(autouse=True)
def overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The service's overrides file for this test (never the repository's own)."""
    path = tmp_path / "holiday-overrides.yaml"
    path.write_text(NO_DECREE)
    monkeypatch.setenv("SMO_HOLIDAY_OVERRIDES", str(path))
    yield path


def decree_for(day: dt.date) -> str:
    return (
        "KH:\n"
        "  decree: Sub-decree on a special public holiday\n"
        f"  add:\n    - {{date: {day.isoformat()}, name: Special holiday by sub-decree}}\n"
    )


def next_close_after(day: dt.date, decreed: str) -> dt.datetime:
    """Close of business of the first working day after `day` once the decree is in force."""
    calendars = CalendarSet(("KH", "US"), parse_overrides(decreed, "the decree"))
    nxt = day + dt.timedelta(days=1)
    while not calendars.is_working_day(nxt):
        nxt += dt.timedelta(days=1)
    return dt.datetime.combine(nxt, dt.time(17, 0), tzinfo=ICT)


async def moved(handle: scenario.Handle, before: dt.datetime, within: float = 60) -> tuple[CaseStatus, float]:
    started = time.monotonic()
    while True:
        current = await scenario.status(handle)
        due = current.sla.due_at
        if due is not None and due > before:
            return current, time.monotonic() - started
        assert time.monotonic() - started < within, f"due_at still {due} after {within} s"
        await asyncio.sleep(0.2)


async def baseline_taken(watch: WorkflowHandle[CalendarWatchWorkflow, None]) -> None:
    deadline = time.monotonic() + 60
    while (await watch.query(CalendarWatchWorkflow.status)).applied is None:
        assert time.monotonic() < deadline, "the watch took no baseline within 60 s"
        await asyncio.sleep(0.1)


async def save(path: Path, text: str) -> None:
    await asyncio.to_thread(path.write_text, text)


async def test_on_the_time_skipping_server_a_decree_on_the_due_date_moves_it_to_the_next_working_day(
    ts_env: WorkflowEnvironment,
    ts_worker: Worker,
    services: Services,
    settings: Settings,
    overrides_file: Path,
) -> None:
    client = ts_env.client
    handle = await scenario.start(
        client, settings, scenario.case_input(services, f"E2E-{uuid.uuid4().hex[:6]}")
    )
    review = await scenario.to_review(ts_env, handle, services, "prudential-kh")
    before = review.sla.due_at
    assert before is not None

    watch = await start_calendar_watch(client, settings.task_queue, WatchState(wait_seconds=5))
    await baseline_taken(watch)

    decree = decree_for(before.astimezone(ICT).date())
    await save(overrides_file, decree)
    after, took = await moved(handle, before)
    print(f"time-skipping server: due_at {before} -> {after.sla.due_at} in {took:.2f} s")
    assert after.sla.due_at == next_close_after(before.astimezone(ICT).date(), decree)

    # The decree taken back: the day works again and the deadline comes back to it.
    await save(overrides_file, NO_DECREE)
    deadline = time.monotonic() + 60
    while (await scenario.status(handle)).sla.due_at != before:
        assert time.monotonic() < deadline, "the deadline did not come back within 60 s"
        await asyncio.sleep(0.2)
    await watch.terminate("test over")


async def test_with_smo_dev_running_a_decree_on_the_due_date_moves_it_within_a_minute(
    settings: Settings, overrides_file: Path
) -> None:
    async with DevStack(settings, ui=False) as stack:
        assert stack.services is not None
        client = await connect(settings)
        handle = await scenario.start(
            client, settings, scenario.case_input(stack.services, f"E2E-{uuid.uuid4().hex[:6]}")
        )
        review = await scenario.to_review(None, handle, stack.services, "prudential-kh")
        before = review.sla.due_at
        assert before is not None
        # The stack started the watch; it takes the file in force as its baseline first.
        await baseline_taken(client.get_workflow_handle_for(CalendarWatchWorkflow.run, WATCH_WORKFLOW_ID))

        decree = decree_for(before.astimezone(ICT).date())
        await save(overrides_file, decree)
        after, took = await moved(handle, before)
        print(f"dev server, one worker: due_at {before} -> {after.sla.due_at} in {took:.2f} s")
        assert took < 60
        expected = next_close_after(before.astimezone(ICT).date(), decree)
        assert after.sla.due_at == expected
        for _ in range(100):  # visibility follows the upsert
            attrs = (await handle.describe()).typed_search_attributes
            if attrs.get(search.SLA_DEADLINE) == expected:
                break
            await asyncio.sleep(0.2)
        assert attrs.get(search.SLA_DEADLINE) == expected
