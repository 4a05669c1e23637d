"""What one case costs the engine, on the real dev server (headless, SQLite, this machine).

Prints the engine's own ceiling (a workflow running no-op activities back to back), then N
concurrent cases driven like the demo: wall time, cases/s, activities/s, and per case the
history events, payload bytes and activities.

    python bench/case_cost.py [--cases 20] [--baseline 400]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

# bench/calendar.py would shadow the standard library's calendar: run from the project root.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from temporalio import activity, workflow  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.worker import UnsandboxedWorkflowRunner, Worker  # noqa: E402

from activities.storage import DocumentStore  # noqa: E402
from models.settings import Settings  # noqa: E402


@activity.defn
async def noop(i: int) -> int:
    return i


@workflow.defn(sandboxed=False)
class Baseline:
    @workflow.run
    async def run(self, n: int) -> int:
        for i in range(n):
            await workflow.execute_activity(noop, i, start_to_close_timeout=timedelta(seconds=10))
        return n


async def baseline(client: Client, activities: int, parallel: int) -> float:
    queue = "bench-baseline"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[Baseline],
        activities=[noop],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        per = activities // parallel
        start = time.perf_counter()
        await asyncio.gather(
            *(
                client.execute_workflow(
                    Baseline.run, per, id=f"baseline-{i}-{time.time_ns()}", task_queue=queue
                )
                for i in range(parallel)
            )
        )
        return per * parallel / (time.perf_counter() - start)


async def one_case(client: Client, settings: Settings, store: DocumentStore, i: int) -> str:
    import service as ops
    from models.case import (
        AddRecords,
        Close,
        CompleteRecords,
        DocumentRef,
        EligibilityFacts,
        RecordType,
        Stage,
        SubmitReport,
    )
    from models.intake import PatientIntake
    from workflows.smo_case import SmoCaseWorkflow

    intake = PatientIntake(
        patient_name=f"Bench Patient {i}",
        date_of_birth=date(1970, 1, 1) + timedelta(days=i),
        email=f"patient{i}@example.com",
        diagnosis_text="synthetic diagnosis",
        icd10="C50.912",
        policy_number="KH-DEMO-0001",
    )
    case = await ops.open_case(
        client,
        settings,
        store,
        program="prudential-kh",
        intake=intake,
        facts=EligibilityFacts(),
        opened_by="bench",
        case_id=f"BENCH-{i:04d}-{os.getpid()}",
    )
    handle = ops.handle_for(client, case.case_id)
    docs = []
    for t in case.records.required:
        stored = store.put_bytes(f"{t.value} {i}".encode(), case.case_id)
        docs.append(DocumentRef(doc_id=stored.doc_id, record_type=t, size=stored.size))
    await handle.execute_update(SmoCaseWorkflow.add_record, AddRecords(documents=docs, by="bench"))
    form = store.put_bytes(f"signed consent {i}".encode(), case.case_id)
    consent = DocumentRef(doc_id=form.doc_id, record_type=RecordType.CONSENT, size=form.size)
    await ops.attest_consent(client, case.case_id, consent, "bench")
    await handle.execute_update(SmoCaseWorkflow.mark_records_complete, CompleteRecords(by="bench"))
    review = await ops.wait_for_stage(client, case.case_id, [Stage.UNDER_REVIEW], poll=0.02)
    while review.sla.due_at is None:
        await asyncio.sleep(0.05)
        review = await ops.status(client, case.case_id)
    report = store.put_bytes(f"report {i}".encode(), case.case_id)
    assert review.specialist_id
    await handle.execute_update(
        SmoCaseWorkflow.submit_report,
        SubmitReport(
            document=DocumentRef(doc_id=report.doc_id, record_type=RecordType.SMO_REPORT, size=report.size),
            specialist_id=review.specialist_id,
            by=review.specialist_id,
        ),
    )
    await ops.wait_for_stage(client, case.case_id, [Stage.REPORT_DELIVERED], poll=0.02)
    await handle.execute_update(SmoCaseWorkflow.close, Close(by="bench"))
    await handle.result()
    return case.case_id


async def main(cases: int, baseline_activities: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="smo-bench-"))
    os.environ.update(
        {
            "SMO_HOME": str(home),
            "SMO_TEMPORAL_ADDRESS": "127.0.0.1:17233",
            "SMO_SMTP_PORT": "18025",
            "SMO_WEB_PORT": "18081",
            "SMO_LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("DATABASE_URL", None)
    from runtime.logging import configure_logging
    from runtime.temporal import connect
    from starter.dev import DevStack, load_settings
    from tests.scenario import payloads_of, runs

    settings = load_settings()
    configure_logging("console", "WARNING")
    # The roster's capacity limits concurrent oncology cases; the bench measures the engine.
    from sqlmodel import Session, select

    async with DevStack(settings, ui=False) as stack:
        assert stack.services is not None
        from models.db import Specialist

        with Session(stack.services.engine) as session:
            for sp in session.exec(select(Specialist)).all():
                sp.capacity = 10_000
                session.add(sp)
            session.commit()
        client = await connect(settings)
        ceiling = await baseline(client, baseline_activities, parallel=cases)
        print(f"engine ceiling: {ceiling:.0f} activities/s (no-op activities, {cases} workflows in parallel)")

        start = time.perf_counter()
        ids = await asyncio.gather(
            *(one_case(client, settings, stack.services.store, i) for i in range(cases))
        )
        wall = time.perf_counter() - start

        events, payload, acts = [], [], []
        for case_id in ids:
            histories = await runs(client, f"smo-{case_id}")  # every run, should it continue as new
            kinds = [e.WhichOneof("attributes") for h in histories for e in h.events]
            events.append(len(kinds))
            payload.append(sum(len(p.data) for h in histories for p in payloads_of(h)))
            acts.append(
                kinds.count("activity_task_scheduled_event_attributes")
                + kinds.count("marker_recorded_event_attributes")
            )
        total_acts = sum(acts)
        print(f"cases: {cases} in {wall:.1f}s = {cases / wall:.2f} cases/s")
        print(
            f"activities (incl. local): {total_acts} = {total_acts / wall:.0f} activities/s"
            f" ({total_acts / wall / ceiling:.0%} of the ceiling)"
        )
        print(
            f"per case: events median {statistics.median(events):.0f} max {max(events)};"
            f" payload bytes median {statistics.median(payload):.0f} max {max(payload)};"
            f" activities median {statistics.median(acts):.0f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--baseline", type=int, default=400)
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.baseline))
