"""Full cases against a bare workflow of the same shape, side by side in one run.

    python bench/lifecycle.py --cases 40 [--rounds 3] [--store memory|sqlite]

Starts a headless dev server (in memory unless --store sqlite), the SMTP outbox, one real
worker process (`python worker.py`) and one process serving `BareCase` (bench/bare.py: same
converter and codec, runner and cache size). Each round runs N prudential-kh cases through
every stage at once (intake, eligibility, records, assignment, review, report, a free
consult, a billed consult, close), then N bare workflows with the shape of a case the
round just ran: the same activities, local activities, search-attribute upserts, updates and
timers, and no business logic. Both are driven alike: an update, then wait (through
`describe`, served by the server) until nothing runs, then the next; one `status` query each.

The ratio is smo_per_s / bare_per_s within a round; the last line gives the medians over the
rounds: `cases=N smo_per_s=… bare_per_s=… ratio=…`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import stack
from bare import BareCase, Payload, Shape
from stack import Stack, cpu_seconds, now, park
from temporalio.client import Client

import service as ops
from models.case import BookConsult, Close, CompleteConsult, DocumentRef, RecordType, Stage, SubmitReport
from runtime.temporal import connect
from tests.reliability.harness import WorkerProcess, worker_env
from tests.scenario import payloads_of, runs
from workflows.smo_case import SmoCaseWorkflow


async def smo_case(st: Stack, n: int, run: str) -> str:
    """One case from intake to CLOSED, every stage, two consults (the second one billed)."""
    case_id = await park(st, n, run)
    handle = ops.handle_for(st.client, case_id)
    review = await handle.query(SmoCaseWorkflow.status)
    assert review.specialist_id is not None
    report = await asyncio.to_thread(st.services.store.put_bytes, f"report of case {n}".encode(), case_id)
    doc = DocumentRef(doc_id=report.doc_id, record_type=RecordType.SMO_REPORT, size=report.size)
    await handle.execute_update(
        SmoCaseWorkflow.submit_report,
        SubmitReport(document=doc, specialist_id=review.specialist_id, by=review.specialist_id),
    )
    await stack.settled(handle, Stage.REPORT_DELIVERED)
    for k in (1, 2):
        slot = datetime.now(UTC) + timedelta(days=2 + k)
        await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="bench"))
        await stack.settled(handle)
        await handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="bench"))
        await stack.settled(handle)
    await handle.execute_update(SmoCaseWorkflow.close, Close(by="bench"))
    result = await handle.result()
    assert result.stage is Stage.CLOSED, result
    return case_id


async def shape_of(client: Client, workflow_id: str) -> tuple[Shape, Counter[str]]:
    """The commands of a finished case, by segment (before the first update, after each),
    over every run of it (a case past its history budget continues as new)."""
    histories = await runs(client, workflow_id)
    events = [event for history in histories for event in history.events]
    segments, counts = [""], Counter[str]()
    for event in events:
        kind = event.WhichOneof("attributes")
        if kind == "workflow_execution_update_accepted_event_attributes":
            segments.append("")
            counts["updates"] += 1
        elif kind == "activity_task_scheduled_event_attributes":
            segments[-1] += "A"
            counts["activities"] += 1
        elif kind == "marker_recorded_event_attributes":
            segments[-1] += "L"
            counts["local_activities"] += 1
        elif kind == "upsert_workflow_search_attributes_event_attributes":
            segments[-1] += "S"
            counts["search_attribute_upserts"] += 1
        elif kind == "timer_started_event_attributes":
            counts["timers"] += 1
    counts["events"] = len(events)
    counts["runs"] = len(histories)
    sizes = [len(p.data) for history in histories for p in payloads_of(history)]
    shape = Shape(segments=segments, timers=counts["timers"], payload_bytes=int(statistics.fmean(sizes)))
    return shape, counts


async def bare_case(client: Client, queue: str, shape: Shape, n: int, run: str) -> None:
    handle = await client.start_workflow(BareCase.run, shape, id=f"bare-{run}-{n}", task_queue=queue)
    await stack.settled(handle)
    for _ in range(2):  # as many as the case's driver asks (opening, then the specialist's id)
        await handle.query(BareCase.status)
    payload = Payload(data="x" * shape.payload_bytes)
    for _ in shape.segments[1:]:
        await handle.execute_update(BareCase.step, payload)
        await stack.settled(handle)
    await handle.result()


def others(st: Stack) -> tuple[float, float]:
    """CPU seconds so far of the dev server and of this process (the driver and the outbox)."""
    assert st.server.process is not None
    mine = os.times()
    return cpu_seconds(st.server.process.pid), mine.user + mine.system


async def timed(jobs: list[Any]) -> float:
    start = now()
    await asyncio.gather(*(j() for j in jobs))
    return now() - start


async def main(cases: int, rounds: int, store: str, profile: Path | None = None) -> str:
    async with stack.stack(store, cases * rounds + 1) as st:
        print(st.describe())
        bare_queue = f"bench-bare-{uuid.uuid4().hex[:6]}"
        env = worker_env(st.settings, SMO_TASK_QUEUE=bare_queue, SMO_LOG_LEVEL="WARNING")
        script = stack.PROJECT_ROOT / "bench" / "bare.py"
        bare = WorkerProcess(env, st.settings.home / "bare.log", script=script)
        bare.start()
        try:
            bare_client = await connect(st.settings)
            await bare.wait_polling(bare_client, timeout=60)
            run = uuid.uuid4().hex[:6]
            # One case first, so that the bare workflow has the shape of a real one.
            first = await smo_case(st, 0, run)
            shape, counts = await shape_of(st.client, f"smo-{first}")
            print("shape of a case: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
            print(f"  segments {shape.segments}, mean payload {shape.payload_bytes} bytes")
            smo_rates, bare_rates, ratios = [], [], []
            for r in range(rounds):
                cpu0, side0, polls0 = cpu_seconds(st.worker.pid), others(st), stack.FOLLOWING.describes
                ids = range(1 + r * cases, 1 + (r + 1) * cases)
                output = profile / f"lifecycle-smo-{r + 1}.txt" if profile else None
                with stack.profiled(st.worker.pid, output):
                    smo_wall = await timed([lambda n=n: smo_case(st, n, run) for n in ids])
                smo_cpu = (cpu_seconds(st.worker.pid) - cpu0) / cases * 1000
                smo_side = [(b - a) / cases * 1000 for a, b in zip(side0, others(st), strict=True)]
                smo_polls, polls0 = (stack.FOLLOWING.describes - polls0) / cases, stack.FOLLOWING.describes
                cpu0, side0 = cpu_seconds(bare.pid), others(st)
                output = profile / f"lifecycle-bare-{r + 1}.txt" if profile else None
                with stack.profiled(bare.pid, output):
                    bare_wall = await timed(
                        [lambda n=n: bare_case(bare_client, bare_queue, shape, n, run) for n in ids]
                    )
                bare_cpu = (cpu_seconds(bare.pid) - cpu0) / cases * 1000
                bare_side = [(b - a) / cases * 1000 for a, b in zip(side0, others(st), strict=True)]
                bare_polls = (stack.FOLLOWING.describes - polls0) / cases
                smo_rates.append(cases / smo_wall)
                bare_rates.append(cases / bare_wall)
                ratios.append(smo_rates[-1] / bare_rates[-1])
                print(
                    f"round {r + 1}: smo {smo_rates[-1]:.2f} cases/s ({smo_cpu:.0f} ms worker CPU per case),"
                    f" bare {bare_rates[-1]:.2f} cases/s ({bare_cpu:.0f} ms), ratio {ratios[-1]:.2f}"
                )
                print(
                    f"  per case, dev server CPU: smo {smo_side[0]:.0f} ms, bare {bare_side[0]:.0f} ms;"
                    f" driver and outbox: smo {smo_side[1]:.0f} ms, bare {bare_side[1]:.0f} ms;"
                    f" describe polls: smo {smo_polls:.1f}, bare {bare_polls:.1f}"
                )
        finally:
            bare.kill()
        return (
            f"cases={cases} smo_per_s={statistics.median(smo_rates):.2f}"
            f" bare_per_s={statistics.median(bare_rates):.2f} ratio={statistics.median(ratios):.2f}"
        )


if __name__ == "__main__":
    parser = stack.arguments(__doc__)
    parser.add_argument("--cases", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    print(asyncio.run(main(args.cases, args.rounds, args.store, args.profile)))
