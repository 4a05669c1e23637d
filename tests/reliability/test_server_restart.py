"""The Temporal server (`temporal server start-dev` on a SQLite file) is stopped while cases wait
on durable timers, and started again. The worker process keeps running throughout.

SLA deadlines are working days at 17:00 ICT, so their timers cannot be made short; the records
reminder can (`records.reminder_every_days` takes a fraction of a day), so the test runs the
programs with a reminder every few seconds. One group of cases is due while the server is down,
another after it is back. A case under review shows that an SLA timer days away survives too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from models.case import SlaState, Stage
from models.settings import Settings
from runtime.devserver import DevServer
from tests.reliability.harness import (
    CaseDriver,
    Live,
    Timer,
    closed,
    delivered,
    free_port,
    live_service,
    repeated,
    short_timer_programs,
    timers,
)

DUE_WHILE_DOWN = timedelta(seconds=5)  # prudential-kh's records reminder
DUE_AFTER_RESTART = timedelta(seconds=12)  # assist-america's
# How late a timer may fire: the server's timer queue, not the worker, fires it.
SLACK = timedelta(seconds=2)


@pytest.fixture
async def restartable(
    smo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[DevServer, Live]]:
    programs = short_timer_programs(
        tmp_path / "programs",
        {"prudential-kh": DUE_WHILE_DOWN, "assist-america": DUE_AFTER_RESTART},
        lapse_after=1,
    )
    server = DevServer(tmp_path / "temporal.db", port=free_port(), ui=False)
    monkeypatch.setenv("SMO_PROGRAMS_DIR", str(programs))
    monkeypatch.setenv("SMO_TEMPORAL_ADDRESS", server.address)
    try:
        await server.start()
        async with live_service(Settings(), server.address, tmp_path / "worker.log") as live:
            yield server, live
    finally:
        await server.stop()


async def only_timer(live: Live, case: CaseDriver, summary: str, *, count: int = 1) -> Timer:
    """The case's `count`-th timer with this summary, once the server has recorded it."""
    for _ in range(200):
        found = [t for t in await timers(live.client, case.handle) if t.summary == summary]
        if len(found) >= count:
            return found[count - 1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{case.case_id}: no timer {count} {summary!r}")


async def fired(live: Live, case: CaseDriver, timer_id: str, timeout: float = 30.0) -> datetime:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for t in await timers(live.client, case.handle):
            if t.timer_id == timer_id and t.fired is not None:
                return t.fired
        await asyncio.sleep(0.1)
    raise AssertionError(f"{case.case_id}: timer {timer_id} never fired")


async def test_timers_fire_at_their_deadlines_across_a_server_restart(
    restartable: tuple[DevServer, Live],
) -> None:
    server, live = restartable
    reviewing = live.case(1)
    review = await reviewing.to_review()
    sla_timer = await only_timer(live, reviewing, "SLA escalation")
    soon = [live.case(2), live.case(3)]
    later = [live.case(4, program="assist-america"), live.case(5, program="assist-america")]
    await asyncio.gather(*(c.open() for c in soon + later))
    reminders = {c.case_id: await only_timer(live, c, "records reminder") for c in soon + later}

    await server.stop()
    last_soon = max(reminders[c.case_id].deadline for c in soon)
    await asyncio.sleep((last_soon - datetime.now(UTC)).total_seconds() + 1.0)
    await server.start()
    up_at = datetime.now(UTC)

    assert all(reminders[c.case_id].deadline < up_at for c in soon), "due while the server was down"
    assert all(reminders[c.case_id].deadline > up_at for c in later), "due after the restart"
    for case in soon + later:
        timer = reminders[case.case_id]
        at = await fired(live, case, timer.timer_id)
        print(f"{case.case_id}: due {timer.deadline:%H:%M:%S.%f}, server back {up_at:%H:%M:%S.%f},"
              f" fired {at:%H:%M:%S.%f} ({(at - timer.deadline).total_seconds():+.2f}s)")
        # A timer due during the outage fires as soon as the server is back; the others on time.
        assert timer.deadline <= at <= max(timer.deadline, up_at) + SLACK, (case.case_id, timer, at)

    # The next timer (the lapse after one reminder) runs on a fresh clock and fires on time.
    for case in soon:
        lapse = await only_timer(live, case, "records reminder", count=2)
        assert (await case.result()).stage is Stage.LAPSED
        lapse_at = await fired(live, case, lapse.timer_id)
        assert lapse.deadline <= lapse_at <= lapse.deadline + SLACK
        assert lapse.deadline - lapse.started == DUE_WHILE_DOWN

    # The case under review kept its SLA deadline and its pending timer, and goes on to close.
    after = await reviewing.status()
    assert after.stage is Stage.UNDER_REVIEW and after.sla.state is SlaState.RUNNING
    assert after.sla.due_at == review.sla.due_at
    (still,) = [t for t in await timers(live.client, reviewing.handle) if t.summary == "SLA escalation"]
    assert (still.timer_id, still.deadline, still.fired) == (sla_timer.timer_id, sla_timer.deadline, None)
    await reviewing.finish()
    await closed(reviewing)

    sent = delivered(live.settings.outbox_dir)
    assert not repeated(sent)
    notices = {notice for notice, _ in sent}
    for case in soon + later:
        assert f"{case.case_id}:records_reminder:1" in notices
        assert any(t.event == "records reminder" for t in (await case.status()).timeline)
    for case in soon:
        assert f"{case.case_id}:records_lapsed:1" in notices
