"""The case read model: the case writes what it shows, never ahead of itself, and it can be rebuilt.

On the real dev server (`smo dev`'s stack: nothing here needs time to skip), with the
worker's own case DB: the row each case writes is compared with the case's `status` query
at every stage it passes through.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select
from temporalio.client import Client

import service
from models.case import (
    BookConsult,
    Cancel,
    CaseStatus,
    Close,
    CompleteConsult,
    InfoReason,
    RequestInfo,
    SlaState,
    Stage,
    SupplyInfo,
)
from models.case_view import CaseViewWrite
from models.settings import Settings
from runtime.case_views import VIEWS, CaseViews, ListFilter
from runtime.temporal import connect
from service.read_model import rebuild_read_model
from starter.dev import DevStack
from tests import scenario
from tests.polling import DEADLINE
from worker import Services
from workflows.smo_case import SmoCaseWorkflow


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[tuple[Client, Services]]:
    """The dev server, a worker and the web over this test's own case DB."""
    async with DevStack(settings, ui=False) as stack:
        assert stack.services is not None
        yield await connect(settings), stack.services


def same_case(one: CaseStatus, other: CaseStatus) -> None:
    """Two statuses of a case are the same, but for a timeline entry's moment by a few ms.

    The SDK's `workflow.now()` after a local activity can differ by milliseconds between the
    run as it went and its replay (a query answered on a worker that had evicted the case, a
    rebuild's query of a closed one): the entries, their order and every other field agree.
    """
    assert one.model_copy(update={"timeline": []}) == other.model_copy(update={"timeline": []})
    assert [(t.stage, t.event, t.detail) for t in one.timeline] == [
        (t.stage, t.event, t.detail) for t in other.timeline
    ]
    drift = max((abs(a.at - b.at) for a, b in zip(one.timeline, other.timeline, strict=True)), default=None)
    assert drift is None or drift < timedelta(seconds=1), drift


def _without_body(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "body"}


async def agrees(handle: scenario.Handle, views: CaseViews) -> CaseStatus:
    """The case's view equals its own `status` once the case stands still, and is never ahead.

    A query, the row, the query again: when both queries show one version, the row read
    between them must be that version, with the same status.
    """
    case_id = scenario.case_of(handle)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while True:
        before = await scenario.status(handle)
        stored = await asyncio.to_thread(views.read, case_id)
        after = await scenario.status(handle)
        assert stored is not None, f"{case_id}: no view"
        assert stored.version <= after.version, f"{case_id}: the view is ahead of the case"
        if before.version == after.version == stored.version:
            same_case(stored.status, after)
            return after
        behind = f"{case_id}: the view stayed at {stored.version}, the case at {after.version}"
        assert loop.time() < deadline, behind
        await asyncio.sleep(0.05)


async def test_at_every_stage_the_view_is_the_case_as_it_shows_itself(
    live: tuple[Client, Services],
) -> None:
    client, services = live
    views = CaseViews(services.engine)
    inp = scenario.case_input(services, "VIEW-STAGES", read_model=True)
    handle = await scenario.start(client, services.settings, inp)

    await scenario.until(None, handle, Stage.GATHERING_RECORDS)
    gathering = await agrees(handle, views)
    assert gathering.opened_at is not None and gathering.records.missing

    review = await scenario.to_review(None, handle, services, "prudential-kh")
    assert review.specialist_id
    under_review = await agrees(handle, views)
    assert under_review.stage is Stage.UNDER_REVIEW and under_review.sla.state is SlaState.RUNNING

    ask = RequestInfo(reason=InfoReason.CLARIFICATION, by=review.specialist_id)
    await handle.execute_update(SmoCaseWorkflow.request_more_info, ask)
    await scenario.when(handle, lambda s: s.sla.state is SlaState.PAUSED, "the clock stopped")
    assert (await agrees(handle, views)).sla.state is SlaState.PAUSED
    await handle.execute_update(SmoCaseWorkflow.supply_info, SupplyInfo(by="coordinator"))
    await scenario.when(handle, lambda s: s.sla.state is SlaState.RUNNING, "the clock running again")
    await agrees(handle, views)

    await scenario.submit_report(handle, services, review.specialist_id)
    await scenario.until(None, handle, Stage.REPORT_DELIVERED)
    assert (await agrees(handle, views)).report_doc_ids

    slot = datetime.now(UTC) + timedelta(days=2)
    await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="c"))
    assert (await agrees(handle, views)).consult_pending
    await handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="c"))
    assert (await agrees(handle, views)).consults_completed == 1

    await handle.execute_update(SmoCaseWorkflow.close, Close(by="c"))
    await handle.result()
    closed = await asyncio.to_thread(views.read, inp.case_id)
    assert closed is not None and not closed.running
    same_case(closed.status, await scenario.status(handle))
    assert closed.status.stage is Stage.CLOSED
    # Its views cost a marker per workflow task that changed them: still a small history.
    runs = await scenario.runs(client, handle.id)
    lengths, sizes = [len(h.events) for h in runs], [scenario.payload_bytes(h) for h in runs]
    print(f"events per run: {lengths}; payload bytes per run: {sizes}")
    assert max(lengths) <= 120 and max(sizes) <= 32 * 1024, (lengths, sizes)


async def test_a_cancelled_case_is_listed_as_ended_and_an_old_write_never_wins(
    live: tuple[Client, Services],
) -> None:
    client, services = live
    views = CaseViews(services.engine)
    inp = scenario.case_input(services, "VIEW-CANCEL", read_model=True)
    handle = await scenario.start(client, services.settings, inp)
    gathering = await scenario.until(None, handle, Stage.GATHERING_RECORDS)
    await handle.execute_update(SmoCaseWorkflow.cancel, Cancel(reason="member withdrew", by="supervisor"))
    await handle.result()
    ended = await asyncio.to_thread(views.read, inp.case_id)
    assert ended is not None and ended.status.stage is Stage.CANCELLED and not ended.running

    # A retried write of an older state (a replay, a slow attempt) changes nothing.
    stale = CaseViewWrite(version=gathering.version, running=True, status=gathering)
    assert views.write(stale) == ended.version
    again = views.read(inp.case_id)
    assert again is not None and again.status.stage is Stage.CANCELLED and not again.running
    listed = views.list(ListFilter(stage=Stage.CANCELLED), 10)
    assert [(c.case_id, c.status) for c in listed] == [(inp.case_id, "completed")]


def _rows(services: Services) -> dict[str, dict[str, Any]]:
    """Every view as stored, without what a rebuild is allowed to differ in."""
    with services.engine.connect() as conn:
        rows = conn.execute(select(VIEWS)).mappings().all()
    return {r["case_id"]: {k: v for k, v in r.items() if k not in ("by_case", "updated_at")} for r in rows}


async def test_the_rebuilt_read_model_equals_the_one_the_cases_wrote(
    live: tuple[Client, Services],
) -> None:
    client, services = live
    views = CaseViews(services.engine)

    async def opened(case_id: str, member: str) -> scenario.Handle:
        member_sheet = scenario.intake(patient_name=member)
        inp = scenario.case_input(services, case_id, patient=member_sheet, read_model=True)
        handle = await scenario.start(client, services.settings, inp)
        await scenario.until(None, handle, Stage.GATHERING_RECORDS)
        return handle

    # One case closed, one under review, one still gathering records (three members).
    closed = await opened("RB-CLOSED", "Sokha Chan")
    await closed.execute_update(SmoCaseWorkflow.cancel, Cancel(reason="duplicate request", by="supervisor"))
    await closed.result()
    reviewing = await opened("RB-REVIEW", "Dara Keo")
    await scenario.to_review(None, reviewing, services, "prudential-kh")
    gathering = await opened("RB-GATHER", "Srey Mom")
    for handle in (reviewing, gathering):
        await scenario.settled(handle)
        await agrees(handle, views)
    written = _rows(services)
    assert set(written) == {"RB-CLOSED", "RB-REVIEW", "RB-GATHER"}

    # Lost (a restore from before the read model, say), then rebuilt from the workflows.
    with services.engine.begin() as conn:
        conn.execute(delete(VIEWS))
    done = await rebuild_read_model(client, views)
    assert (done.running, done.closed, done.failed) == (2, 1, [])
    rebuilt = _rows(services)
    assert {k: _without_body(v) for k, v in rebuilt.items()} == {
        k: _without_body(v) for k, v in written.items()
    }
    for case_id, row in written.items():
        same_case(
            CaseStatus.model_validate_json(rebuilt[case_id]["body"]),
            CaseStatus.model_validate_json(row["body"]),
        )

    # A rebuilt view of a running case is read from the case until the case writes its own.
    from_rebuild = views.read("RB-GATHER")
    assert from_rebuild is not None and not from_rebuild.by_case
    same_case(await service.read_status(views, client, "RB-GATHER"), await scenario.status(gathering))
    await gathering.execute_update(SmoCaseWorkflow.cancel, Cancel(reason="member withdrew", by="supervisor"))
    await gathering.result()
    own = views.read("RB-GATHER")
    assert own is not None and own.by_case and own.status.stage is Stage.CANCELLED

    # Asked again, the rebuild keeps what the cases wrote since.
    assert (await rebuild_read_model(client, views)).failed == []
    assert views.read("RB-GATHER") == own


async def test_the_list_filters_by_attention_and_keeps_to_a_token_s_programs(
    live: tuple[Client, Services],
) -> None:
    client, services = live
    views = CaseViews(services.engine)
    kh_input = scenario.case_input(services, "LIST-KH", read_model=True)
    kh = await scenario.start(client, services.settings, kh_input)
    aa_input = scenario.case_input(services, "LIST-AA", "assist-america", read_model=True)
    aa = await scenario.start(client, services.settings, aa_input)
    for handle in (kh, aa):
        await scenario.until(None, handle, Stage.GATHERING_RECORDS)
        await agrees(handle, views)

    def ids(**filters: Any) -> list[str]:
        return [c.case_id for c in views.list(service.case_filter(**filters), 50)]

    assert ids() == ["LIST-KH", "LIST-AA"] or ids() == ["LIST-AA", "LIST-KH"]
    assert ids(scope={"assist-america"}) == ["LIST-AA"]
    assert ids(scope={"assist-america"}, program="prudential-kh") == []
    assert ids(attention=True) == []
    # Nothing but a program's name may name one: the filter refuses anything else.
    for hostile in ("prudential-kh' OR '1'='1", "x; DROP TABLE case_views", "../", "PRUDENTIAL-KH"):
        try:
            service.case_filter(program=hostile)
        except service.UserError:
            continue
        raise AssertionError(f"{hostile!r} was taken as a program")
    # Due within a window, as of an instant: nothing is under review here.
    assert views.list(ListFilter(due_within=timedelta(days=30)), 50, now=datetime.now(UTC)) == []
