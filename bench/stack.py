"""What the benchmarks share: a headless dev server, the SMTP outbox, a real worker process,
a case DB with room on the roster, and cases driven the way a coordinator drives them.

The worker is `python worker.py` (harness.WorkerProcess), so its CPU time and RSS are read
from /proc for that process alone (Linux). Cases are followed through `describe` (served by
the Temporal server) rather than `status` queries, so following them costs the worker
nothing and what the benchmarks charge to the worker is the case's own work.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Python puts bench/ first on sys.path, and bench/calendar.py would shadow the standard
# library's `calendar` for everything imported below: the project root goes first, bench/ last.
_HERE = Path(__file__).resolve().parent
PROJECT_ROOT = _HERE.parent
sys.path[:] = [str(PROJECT_ROOT), *(p for p in sys.path if Path(p or ".").resolve() != _HERE), str(_HERE)]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import AsyncIterator, Iterator, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import date, timedelta  # noqa: E402
from typing import Any  # noqa: E402

from chaos import prepare_home  # noqa: E402
from temporalio.api.common.v1 import WorkflowExecution  # noqa: E402
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest  # noqa: E402
from temporalio.client import Client, WorkflowHandle  # noqa: E402

import service as ops  # noqa: E402
from models import search  # noqa: E402
from models.case import AddRecords, CompleteRecords, DocumentRef, EligibilityFacts, RecordType, Stage  # noqa: E402
from models.intake import PatientIntake  # noqa: E402
from models.settings import Settings  # noqa: E402
from runtime.devserver import DevServer  # noqa: E402
from runtime.outbox import OutboxServer  # noqa: E402
from runtime.temporal import connect  # noqa: E402
from tests.reliability.harness import WorkerProcess, free_port, worker_env  # noqa: E402
from worker import Services  # noqa: E402
from workflows.smo_case import SmoCaseWorkflow  # noqa: E402

if str(_HERE) not in sys.path:  # chaos.py takes bench/ off the path; the benchmarks import bare.py
    sys.path.append(str(_HERE))

STORES = ("memory", "sqlite")


@dataclass
class Following:
    """`describe` calls made by `settled`. Each costs the dev server about 3.4 ms of CPU and
    this process 1.6 ms (measured on the AMD host), and a slower case takes more of them."""

    describes: int = 0


FOLLOWING = Following()
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class MemoryDevServer(DevServer):
    """The dev server without `--db-filename`: everything in memory, gone when it stops."""

    def command(self) -> list[str]:
        cmd = super().command()
        at = cmd.index("--db-filename")
        return cmd[:at] + cmd[at + 2 :]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (nearest rank) of a sample."""
    ordered = sorted(values)
    rank = max(1, round(p / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def versions() -> str:
    import temporalio

    server = subprocess.run(
        [shutil.which("temporal") or str(Path(sys.executable).parent / "temporal"), "--version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"python {sys.version.split()[0]} · temporalio {temporalio.__version__} · {server}"


@dataclass
class Stack:
    settings: Settings
    services: Services
    client: Client
    server: DevServer
    worker: WorkerProcess
    store: str

    def describe(self) -> str:
        kind = "in-memory" if self.store == "memory" else "SQLite file"
        return (
            f"dev server store: {kind}; worker: python worker.py (1 process,"
            f" SMO_WORKER_SANDBOX={self.settings.worker_sandbox},"
            f" SMO_WORKER_MEMORY_MB={self.settings.worker_memory_mb}); {versions()}"
        )

    async def restart_worker(self) -> None:
        """Stop the worker as a redeploy does (SIGTERM, it says goodbye) and start a new one."""
        proc = self.worker.process
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, 15)
            await asyncio.to_thread(proc.wait, 60)
        self.worker.start()
        await self.worker.wait_polling(self.client, timeout=60)


@contextlib.asynccontextmanager
async def stack(
    store: str, cases: int, *, worker_extra: dict[str, str] | None = None
) -> AsyncIterator[Stack]:
    """A temporary SMO_HOME with its dev server, outbox and worker; all of it gone on exit."""
    if store not in STORES:
        raise SystemExit(f"error: --store must be one of {', '.join(STORES)}")
    home = Path(tempfile.mkdtemp(prefix="smo-bench-"))
    # SMO_WORKER_* (runner, memory budget) set for the run reach the worker process too.
    tuning = {k: v for k, v in os.environ.items() if k.startswith("SMO_WORKER_")}
    worker_extra = {**tuning, **(worker_extra or {})}
    os.environ.update(prepare_home(home, cases))
    # Metrics on, as by default, on a port of the run's own.
    os.environ["SMO_METRICS_PORT"] = str(free_port())
    os.environ.update({"SMO_LOG_LEVEL": "WARNING", **worker_extra})
    os.environ.pop("DATABASE_URL", None)
    settings = Settings()
    server_cls = MemoryDevServer if store == "memory" else DevServer
    port = int(settings.temporal_address.rsplit(":", 1)[1])
    server = server_cls(home / "temporal.db", port=port, ui=False)
    async with contextlib.AsyncExitStack() as exits:
        exits.callback(shutil.rmtree, home, True)
        outbox = OutboxServer(settings.outbox_dir, settings.smtp_host, settings.smtp_port).start()
        exits.callback(outbox.stop)
        await server.start()
        exits.push_async_callback(server.stop)
        services = Services.from_settings(settings)
        exits.callback(services.engine.dispose)
        client = await connect(settings)
        env = worker_env(settings, **worker_extra)
        env["SMO_LOG_LEVEL"] = "WARNING"
        worker = WorkerProcess(env, home / "worker.log")
        exits.callback(worker.kill)
        worker.start()
        await worker.wait_polling(client, timeout=60)
        yield Stack(settings, services, client, server, worker, store)


# ---- cases, followed from the server ---------------------------------------------------------

Handle = WorkflowHandle[Any, Any]


def intake(n: int, run: str) -> PatientIntake:
    """A distinct life assured per case (one SMO per condition is per life assured)."""
    return PatientIntake(
        patient_name=f"Bench Patient {run} {n}",
        date_of_birth=date(1940, 1, 1) + timedelta(days=n % 20000),
        email=f"bench{n}@example.com",
        diagnosis_text="synthetic diagnosis for a benchmark",
        icd10="C50.912",
        policy_number="KH-DEMO-0001",
    )


async def settled(
    handle: Handle, stage: Stage | None = None, *, deadline_set: bool = False, timeout: float = 600
) -> None:
    """Until nothing runs or is due to run in the workflow (it waits for a person), and the case
    is in `stage` (with its SLA deadline published if `deadline_set`).

    Reads the server's raw description: `handle.describe()` would also decode every search
    attribute and the case's static summary and details through the codec on each poll, a
    cost of the harness that grows with what the workflow publishes, not of the workflow."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    pause = 0.05
    client = handle._client  # the handle's own client: its namespace and connection
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=handle.id)
    )
    while True:
        FOLLOWING.describes += 1
        raw = await client.workflow_service.describe_workflow_execution(request, retry=True)
        fields = raw.workflow_execution_info.search_attributes.indexed_fields
        at = fields.get(search.STAGE.name)
        if (
            (stage is None or (at is not None and json.loads(at.data) == stage.value))
            and (not deadline_set or search.SLA_DEADLINE.name in fields)
            and not raw.pending_activities
            and not raw.HasField("pending_workflow_task")
        ):
            return
        if loop.time() > end:
            raise AssertionError(f"{handle.id} did not settle ({stage}) within {timeout}s")
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, 0.1)


async def park(st: Stack, n: int, run: str) -> str:
    """Open case `n` and drive it to UNDER_REVIEW: records in, complete, a specialist assigned
    and the SLA clock running. Returns the case id."""
    program = "prudential-kh"
    case_id = f"B{run}-{n:05d}"
    store = st.services.store
    await ops.open_case(
        st.client,
        st.settings,
        store,
        program=program,
        intake=intake(n, run),
        facts=EligibilityFacts(),
        opened_by="bench",
        case_id=case_id,
        wait=False,
    )
    handle = ops.handle_for(st.client, case_id)
    await settled(handle, Stage.GATHERING_RECORDS)
    docs = []
    for record_type in st.services.programs[program].records.required:
        stored = await asyncio.to_thread(
            store.put_bytes, f"{record_type.value} of case {n}".encode(), case_id
        )
        docs.append(DocumentRef(doc_id=stored.doc_id, record_type=record_type, size=stored.size))
    await handle.execute_update(SmoCaseWorkflow.add_record, AddRecords(documents=docs, by="bench"))
    form = await asyncio.to_thread(store.put_bytes, f"signed consent of case {n}".encode(), case_id)
    consent = DocumentRef(doc_id=form.doc_id, record_type=RecordType.CONSENT, size=form.size)
    await ops.attest_consent(st.client, case_id, consent, "bench")
    await handle.execute_update(SmoCaseWorkflow.mark_records_complete, CompleteRecords(by="bench"))
    await settled(handle, Stage.UNDER_REVIEW, deadline_set=True)
    return case_id


async def bounded(jobs: Sequence[Any], concurrency: int) -> list[Any]:
    """Run coroutine factories with at most `concurrency` at a time, in order of the list."""
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Any) -> Any:
        async with gate:
            return await job()

    return await asyncio.gather(*(one(j) for j in jobs))


@contextlib.contextmanager
def profiled(pid: int, output: Path | None) -> Iterator[None]:
    """py-spy samples the worker while the block runs (where the GIL is held: its CPU), in
    collapsed-stack form (`flamegraph.pl` draws it); nothing when `output` is None."""
    if output is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    cmd = [spy, "record", "--pid", str(pid), "--gil", "--rate", "200", "--format", "raw",
           "--output", str(output), "--nonblocking", "--subprocesses"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        proc.send_signal(2)  # SIGINT: py-spy writes what it sampled and exits
        proc.wait(60)
        print(f"  profile: {output}")


def arguments(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line: its docstring as help, and the dev server's store."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=STORES, default="memory", help="the dev server's store")
    parser.add_argument("--profile", type=Path, help="a folder for py-spy profiles of the worker")
    return parser


def summary(values: Sequence[float]) -> str:
    return (
        f"p50 {percentile(values, 50):.1f} p99 {percentile(values, 99):.1f}"
        f" max {max(values):.1f} mean {statistics.fmean(values):.1f}"
    )


def now() -> float:
    return time.perf_counter()
