"""Fault injection for the reliability suite and `bench/chaos.py`.

Every fault is a real one: the worker is `python worker.py` in its own process group and is
stopped with SIGKILL; it reaches the Temporal server through a TCP proxy that can drop what
the worker sends (so a kill lands after the work and before the server heard of it); the
case database can be write-locked so that an activity waits at its write; the SMTP server can
hold a session before it accepts a recipient, refuse connections, or come back. What the
suite counts is what the outside world saw: ledger rows, messages the SMTP server received.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from temporalio.api.enums.v1 import PendingActivityState, PendingWorkflowTaskState, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    QueryWorkflowInput,
    WorkflowHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

import service as ops
from models.case import (
    AddRecords,
    BookConsult,
    CaseResult,
    CaseStatus,
    Close,
    CompleteConsult,
    CompleteRecords,
    DocumentRef,
    EligibilityFacts,
    RecordType,
    Stage,
    SubmitReport,
)
from models.consent import GiveConsent
from models.intake import PatientIntake
from models.settings import Settings
from runtime.db import make_engine
from runtime.documents import DocumentStore
from runtime.outbox import OutboxHandler, OutboxServer, read_outbox
from runtime.temporal import connect
from tests import scenario
from tests.conftest import free_port as free_port  # re-exported: the harness's users take it from here
from worker import Services
from workflows.smo_case import SmoCaseWorkflow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOCALHOST = "127.0.0.1"
Handle = WorkflowHandle[SmoCaseWorkflow, Any]
T = TypeVar("T")


# ---- the worker as a child process ----------------------------------------------------------


def worker_env(settings: Settings, *, temporal_address: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a worker process that serves `settings`' case DB, SMTP port and queue."""
    # Bytecode is allowed: a worker that compiles its modules on every start wastes its CPU.
    skip = {"DATABASE_URL", "PYTHONDONTWRITEBYTECODE"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMO_") and k not in skip}
    env.update(
        SMO_HOME=str(settings.home),
        SMO_TEMPORAL_ADDRESS=temporal_address or settings.temporal_address,
        SMO_SMTP_HOST=settings.smtp_host,
        SMO_SMTP_PORT=str(settings.smtp_port),
        SMO_TASK_QUEUE=settings.task_queue,
        SMO_PROGRAMS_DIR=str(settings.programs_dir),
        SMO_SPECIALISTS_FILE=str(settings.specialists_file),
        SMO_LOG_FORMAT="json",
        SMO_METRICS_PORT=str(settings.metrics_port),  # 0 unless a test asks for an exporter
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class WorkerProcess:
    """`python worker.py` (or another `script` with its `args`, such as `smo web`), started in its
    own process group so that a kill takes all of it."""

    def __init__(
        self, env: Mapping[str, str], log_file: Path, script: Path | None = None, args: Sequence[str] = ()
    ) -> None:
        self.env = dict(env)
        self.log_file = log_file
        self.script = script or PROJECT_ROOT / "worker.py"
        self.args = list(args)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    @property
    def pid(self) -> int:
        assert self.process is not None, "the worker was never started"
        return self.process.pid

    @property
    def identity(self) -> str:
        """The identity the worker's client reports to the server (the SDK's default)."""
        return f"{self.pid}@{socket.gethostname()}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> WorkerProcess:
        if self.running:
            raise RuntimeError("the worker is already running")
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            log.write(f"---- worker start {self.starts + 1}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, str(self.script), *self.args],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1
        return self

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown, no goodbye to the server."""
        if not self.running:
            return
        self._signal(signal.SIGKILL)
        assert self.process is not None
        self.process.wait()
        self.kills += 1

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    async def wait_polling(self, client: Client, timeout: float = 30.0) -> None:
        """Until this process polls the workflow task queue (so it is connected and registered)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        task_queue = self.env["SMO_TASK_QUEUE"]
        while True:
            if not self.running:
                raise RuntimeError(f"the worker exited with {self.process and self.process.returncode}:\n"
                                   f"{self.log_tail()}")
            resp = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            )
            if any(p.identity == self.identity for p in resp.pollers):
                return
            if loop.time() > deadline:
                raise RuntimeError(f"the worker is not polling after {timeout}s:\n{self.log_tail()}")
            await asyncio.sleep(0.1)


# ---- the network between the worker and the server ----------------------------------------


class TcpProxy:
    """A TCP relay between a worker and the Temporal server, for one-way partitions.

    `drop_uploads()` keeps delivering what the server sends (tasks reach the worker) but drops
    everything the worker sends back (completions never arrive), as if the worker died right
    after doing the work. `heal()` aborts those connections and relays new ones normally."""

    def __init__(self, target: str, host: str = LOCALHOST) -> None:
        target_host, _, target_port = target.rpartition(":")
        self.target_host, self.target_port = target_host, int(target_port)
        self.host = host
        self.port = 0
        self.dropping = False
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._relays: set[asyncio.Task[Any]] = set()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        relay = asyncio.current_task()
        if relay is not None:
            self._relays.add(relay)
            relay.add_done_callback(self._relays.discard)
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        link = _Link(writer, up_writer, dropping=self.dropping)
        self._links.add(link)
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, link, upload=True),
                self._pipe(up_reader, writer, link, upload=False),
            )
        finally:
            self._links.discard(link)
            link.abort()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link, *, upload: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if upload and link.dropping:
                    continue
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            link.abort()

    def drop_uploads(self) -> None:
        self.dropping = True
        for link in self._links:
            link.dropping = True

    def heal(self) -> None:
        self.dropping = False
        for link in list(self._links):
            if link.dropping:
                link.abort()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.abort()
        await asyncio.gather(*self._relays, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    dropping: bool

    def abort(self) -> None:
        self.client.transport.abort()
        self.upstream.transport.abort()


# ---- the case database ----------------------------------------------------------------------


class DbWriteLock:
    """Hold SQLite's write lock on the case DB: every activity that writes waits at that write
    (the worker's busy_timeout is 30 s), readers carry on. Keep it for a second or two."""

    def __init__(self, db_file: Path) -> None:
        self.db_file = db_file
        self._conn: sqlite3.Connection | None = None

    def acquire(self) -> DbWriteLock:
        conn = sqlite3.connect(self.db_file, isolation_level=None, timeout=30)
        conn.execute("BEGIN IMMEDIATE")
        self._conn = conn
        return self

    def release(self) -> None:
        if self._conn is not None:
            self._conn.execute("ROLLBACK")
            self._conn.close()
            self._conn = None


def db_file(settings: Settings) -> Path:
    prefix = "sqlite:///"
    assert settings.db_url.startswith(prefix), "the reliability suite runs on the SQLite case DB"
    return Path(settings.db_url.removeprefix(prefix))


def db_rows(settings: Settings, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Rows of `sql` (with `?` placeholders) read straight from the case DB, SQLite or PostgreSQL."""
    if settings.db_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(db_file(settings), timeout=30)) as conn:
            return list(conn.execute(sql, params))
    engine = make_engine(settings.db_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql.replace("?", "%s"), params)]
    finally:
        engine.dispose()


async def wait_for_row(
    settings: Settings, sql: str, *params: object, timeout: float = 30.0
) -> tuple[Any, ...]:
    """Poll the case DB until `sql` returns a row (a side effect has been committed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        rows = db_rows(settings, sql, *params)
        if rows:
            return rows[0]
        if loop.time() > deadline:
            raise AssertionError(f"no row for {sql!r} {params} after {timeout}s")
        await asyncio.sleep(0.01)


def charges(settings: Settings) -> Counter[str]:
    """Ledger rows per idempotency key, read from the table itself."""
    return Counter(key for (key,) in db_rows(settings, "SELECT idempotency_key FROM ledger"))


# ---- what the SMTP server received ----------------------------------------------------------


def delivered(outbox_dir: Path) -> Counter[tuple[str, str]]:
    """Messages received per (notice id, recipient)."""
    return Counter(
        (str(m["X-SMO-Notice-Id"]), str(m["To"]))
        for m in read_outbox(outbox_dir)
        if m["X-SMO-Notice-Id"] is not None
    )


def repeated(counter: Counter[Any]) -> dict[Any, int]:
    return {key: n for key, n in counter.items() if n > 1}


class GateHandler(OutboxHandler):
    """An outbox that, once armed, holds the next SMTP session at RCPT TO (before the message
    is transmitted) until released. A client killed while held has delivered nothing."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.armed = threading.Event()
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.armed.is_set():
            self.armed.clear()
            self.holding.set()
            await asyncio.to_thread(self.release.wait, 120)
        envelope.rcpt_tos.append(address)
        return "250 OK"


class GatedOutbox(OutboxServer):
    def __init__(self, directory: Path, host: str = LOCALHOST, port: int = 8025) -> None:
        super().__init__(directory, host, port)
        self.gate = GateHandler(directory)
        self.controller.handler = self.gate

    def start(self) -> GatedOutbox:
        super().start()
        return self

    def arm(self) -> None:
        self.gate.release.clear()
        self.gate.holding.clear()
        self.gate.armed.set()

    async def wait_holding(self, timeout: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.gate.holding.is_set():
            if loop.time() > deadline:
                raise AssertionError(f"no SMTP session reached the gate within {timeout}s")
            await asyncio.sleep(0.01)

    def open(self) -> None:
        self.gate.armed.clear()
        self.gate.release.set()

    def stop(self) -> None:
        self.open()
        super().stop()


# ---- what the server knows ------------------------------------------------------------------


async def wait_activity_started(handle: Handle, activity_type: str, timeout: float = 30.0) -> int:
    """Until an attempt of `activity_type` is running on a worker; returns the attempt number."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        desc = await handle.describe()
        for pending in desc.raw_description.pending_activities:
            if (
                pending.activity_type.name == activity_type
                and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            ):
                return int(pending.attempt)
        if loop.time() > deadline:
            raise AssertionError(f"{activity_type} did not start within {timeout}s")
        await asyncio.sleep(0.02)


STARTED_TASK = PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED


async def wait_workflow_task_started(handle: Handle, timeout: float = 30.0) -> None:
    """Until a worker has picked up the case's pending workflow task."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            raw = (await handle.describe()).raw_description
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
            raw = None  # not started yet
        if (
            raw is not None
            and raw.HasField("pending_workflow_task")
            and raw.pending_workflow_task.state == STARTED_TASK
        ):
            return
        if loop.time() > deadline:
            raise AssertionError(f"no workflow task started within {timeout}s")
        await asyncio.sleep(0.01)


async def quiet(handle: Handle, timeout: float = 90.0) -> None:
    """Until the case has no activity running or waiting to run (it waits on a timer or a person)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        raw = (await handle.describe()).raw_description
        if not raw.pending_activities and not raw.HasField("pending_workflow_task"):
            return
        if loop.time() > deadline:
            raise AssertionError(f"the case is still busy after {timeout}s: {raw.pending_activities}")
        await asyncio.sleep(0.05)


async def activity_attempts(client: Client, workflow_id: str, activity_type: str) -> list[int]:
    """The attempt number of every started attempt of `activity_type`, from the history of
    every run of the case (past its history budget a case continues as new)."""
    attempts: list[int] = []
    for history in await scenario.runs(client, workflow_id):
        scheduled: set[int] = set()
        for event in history.events:
            if event.HasField("activity_task_scheduled_event_attributes"):
                if event.activity_task_scheduled_event_attributes.activity_type.name == activity_type:
                    scheduled.add(event.event_id)
            elif event.HasField("activity_task_started_event_attributes"):
                started = event.activity_task_started_event_attributes
                if started.scheduled_event_id in scheduled:
                    attempts.append(int(started.attempt))
    return attempts


# ---- driving a case the way a coordinator does ----------------------------------------------

ICD10_BY_SPECIALTY = {
    "oncology": "C50.912",
    "cardiology": "I25.10",
    "neurology": "G35",
    "gastroenterology": "K50.90",
    "endocrinology": "E11.9",
    "orthopedics": "M05.79",
    "nephrology": "N18.4",
    "hematology": "D50.0",
}

POLICIES = {"prudential-kh": "KH-DEMO-0001", "assist-america": "AA-DEMO-0001"}


def patient(n: int, program: str = "prudential-kh", icd10: str = "C50.912") -> PatientIntake:
    """A distinct life assured per `n` (one SMO per condition is per life assured)."""
    return PatientIntake(
        patient_name=f"Dara Test{n:04d}",
        date_of_birth=date(1970, 1, 1) + timedelta(days=97 * n),
        email=f"dara.test{n:04d}@example.com",
        phone="+855 12 000 000",
        diagnosis_text="condition under second opinion",
        icd10=icd10,
        policy_number=POLICIES[program],
    )


@dataclass
class CaseDriver:
    """One case, step by step, through `service` (as `starter.demo.run_demo` does).

    Every call tolerates a worker that is down: queries are retried, and every update
    carries a fixed id, so sending it again after a lost reply is the same update.
    """

    client: Client
    settings: Settings
    store: DocumentStore
    case_id: str
    intake: PatientIntake
    program: str = "prudential-kh"
    by: str = "coordinator"
    folder: Path = field(init=False)
    status_timeout: float = 120.0

    def __post_init__(self) -> None:
        self.folder = self.settings.home / "records" / self.case_id
        self.folder.mkdir(parents=True, exist_ok=True)

    @property
    def handle(self) -> Handle:
        return ops.handle_for(self.client, self.case_id)

    async def start(self, *, query_after_pickup: bool = False) -> None:
        """Open the case (`ops.open_case`) without waiting for a worker to pick it up.

        `open_case` asks for the case's status right after starting it. A query that reaches
        the server before a worker has taken the case's first task rides in that task, and the
        worker must then complete the task to answer it. `query_after_pickup` holds the query
        back until a worker has the task, so that it waits at the server instead.
        """
        client = self.client
        if query_after_pickup:
            config = client.config()
            config["interceptors"] = [*config["interceptors"], _QueryAfterPickup(self.client)]
            client = Client(**config)
        await ops.open_case(
            client, self.settings, self.store, program=self.program, intake=self.intake,
            facts=EligibilityFacts(), opened_by=self.by, case_id=self.case_id, wait=False,
        )

    async def open(self) -> CaseStatus:
        """Open the case and wait until it waits for records (its first email is out)."""
        await self.start()
        await self.wait_for(Stage.GATHERING_RECORDS)
        await quiet(self.handle, timeout=self.status_timeout)
        return await self.status()

    async def status(self) -> CaseStatus:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.status_timeout
        while True:
            try:
                return await self.handle.query(SmoCaseWorkflow.status, rpc_timeout=timedelta(seconds=3))
            except RPCError:
                # No worker to answer right now (killed, restarting): ask again.
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def wait_for(self, *stages: Stage, timeout: float | None = None) -> CaseStatus:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout or self.status_timeout)
        while True:
            current = await self.status()
            if current.stage in stages:
                return current
            if loop.time() > deadline:
                raise AssertionError(
                    f"{self.case_id} is {current.stage.value}, not {' or '.join(s.value for s in stages)}:"
                    f" {[(t.event, t.detail) for t in current.timeline]}"
                )
            await asyncio.sleep(0.1)

    async def update(self, step: str, update: Any, arg: Any) -> Any:
        """Send an update with a fixed id; a reply lost to a restart is asked for again."""
        update_id = f"{self.case_id}:{step}"
        while True:
            try:
                return await self.handle.execute_update(update, arg, id=update_id)
            except WorkflowUpdateRPCTimeoutOrCancelledError:
                await asyncio.sleep(0.2)

    def record_file(self, record_type: RecordType) -> Path:
        path = self.folder / f"{record_type.value}.txt"
        path.write_text(f"{self.intake.patient_name}: {record_type.value} for {self.case_id}\n")
        return path

    async def add_record(self, record_type: RecordType) -> None:
        path = self.record_file(record_type)
        stored = await ops.store_files(self.store, [path], record_type, case_id=self.case_id)
        ref = stored[0][0]
        await self.update(f"add-{record_type.value}", SmoCaseWorkflow.add_record,
                          AddRecords(documents=[ref], by=self.by))

    async def add_required_records(self) -> None:
        current = await self.status()
        for record_type in current.records.missing:
            await self.add_record(record_type)

    async def attest_consent(self) -> None:
        """The desk attests the member's signed consent form, as `smo consent record` does."""
        path = self.folder / "signed-consent.txt"
        path.write_text(f"{self.intake.patient_name} agrees to send the records abroad ({self.case_id}).\n")
        form = (await ops.store_files(self.store, [path], RecordType.CONSENT, case_id=self.case_id))[0][0]
        consent = GiveConsent.signed_form(form.doc_id, form.size, self.by)
        await self.update("consent", SmoCaseWorkflow.give_consent, consent)

    async def complete_records(self) -> None:
        # Records go abroad only with the member's consent: attested before they are complete.
        await self.attest_consent()
        await self.update(
            "records-complete", SmoCaseWorkflow.mark_records_complete, CompleteRecords(by=self.by)
        )

    async def under_review(self) -> CaseStatus:
        """Once the SLA clock runs and the case waits for the report (the specialist's email
        is out: nothing is running)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.status_timeout
        while True:
            current = await self.wait_for(Stage.UNDER_REVIEW)
            if current.sla.due_at is not None and current.specialist_id is not None:
                await quiet(self.handle, timeout=self.status_timeout)
                return await self.status()
            if loop.time() > deadline:
                raise AssertionError(f"{self.case_id} has no SLA deadline")
            await asyncio.sleep(0.1)

    async def submit_report(self, specialist_id: str) -> None:
        path = self.folder / "smo-report.txt"
        path.write_text(f"Second opinion for {self.intake.patient_name} ({self.case_id}).\n")
        stored = await asyncio.to_thread(self.store.put_file, path, self.case_id)
        doc = DocumentRef(doc_id=stored.doc_id, record_type=RecordType.SMO_REPORT, size=stored.size)
        await self.update("report", SmoCaseWorkflow.submit_report,
                          SubmitReport(document=doc, specialist_id=specialist_id, by=specialist_id))

    async def book_consult(self, n: int) -> str:
        slot = datetime.now(UTC) + timedelta(days=2 + n)
        ack = await self.update(
            f"consult-{n}", SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by=self.by)
        )
        return str(ack.detail)

    async def complete_consult(self, n: int) -> None:
        await self.update(f"consult-{n}-done", SmoCaseWorkflow.complete_consult, CompleteConsult(by=self.by))

    async def close(self) -> CaseResult:
        await self.update("close", SmoCaseWorkflow.close, Close(by=self.by))
        return await self.result()

    async def result(self) -> CaseResult:
        result = await self.handle.result(rpc_timeout=timedelta(minutes=5))
        assert isinstance(result, CaseResult)
        return result

    async def run_to_closed(self, *, consults: int = 2) -> CaseResult:
        """Intake to CLOSED: records, review, report, `consults` consults (the 2nd is billed)."""
        await self.open()
        return await self.finish(consults=consults)

    async def finish(self, *, consults: int = 2) -> CaseResult:
        """From wherever the case is to CLOSED (steps already done are sent again: same ids)."""
        current = await self.status()
        if current.stage is Stage.GATHERING_RECORDS:
            await self.add_required_records()
            await self.complete_records()
        if current.stage in (Stage.GATHERING_RECORDS, Stage.ASSIGNING_SPECIALIST, Stage.UNDER_REVIEW):
            review = await self.under_review()
            assert review.specialist_id is not None
            await self.submit_report(review.specialist_id)
        return await self.consult_and_close(consults)

    async def to_review(self) -> CaseStatus:
        await self.open()
        await self.add_required_records()
        await self.complete_records()
        return await self.under_review()

    async def consult_and_close(self, consults: int) -> CaseResult:
        await self.wait_for(Stage.REPORT_DELIVERED, Stage.CONSULT)
        # The consults already held or booked are skipped: an update's id answers a repeat only
        # within one run, and the consult phase may have continued as new since.
        current = await self.status()
        for n in range(current.consults_completed + 1, consults + 1):
            if not (current.consult_pending and n == current.consults_completed + 1):
                await self.book_consult(n)
            await self.complete_consult(n)
        return await self.close()


class _QueryAfterPickup(Interceptor):
    """Queries wait until a worker has started the workflow's pending task (asked through
    `client`, which has no such interceptor)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _HoldQuery(next, self.client)


class _HoldQuery(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, client: Client) -> None:
        super().__init__(next)
        self.client = client

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        await wait_workflow_task_started(self.client.get_workflow_handle(input.id, run_id=input.run_id))
        return await self.next.query_workflow(input)


def expected_charge_keys(case_ids: Sequence[str], *, free_consults: int = 1, consults: int = 2) -> set[str]:
    return {f"{c}:consult:{n}" for c in case_ids for n in range(free_consults + 1, consults + 1)}


# ---- one test's service ---------------------------------------------------------------------


def run_in_thread(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a private loop, away from the test's own loop."""

    async def main() -> T:
        return await make()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


@dataclass
class Live:
    """One test's service: a worker process behind the proxy, its case DB, lock and outbox."""

    settings: Settings
    services: Services
    client: Client
    outbox: GatedOutbox
    proxy: TcpProxy
    worker: WorkerProcess
    lock: DbWriteLock
    prefix: str

    def case(self, n: int, *, program: str = "prudential-kh", icd10: str = "C50.912") -> CaseDriver:
        return CaseDriver(
            self.client, self.settings, self.services.store, f"{self.prefix}-{n}",
            patient(n, program, icd10), program=program,
        )

    def restart_worker(self) -> None:
        """SIGKILL the worker and start a fresh process (a crash, then a redeploy)."""
        self.worker.kill()
        self.proxy.heal()
        self.worker.start()

    def assert_each_effect_once(self, *, charge_keys: set[str], cases: list[CaseDriver]) -> None:
        """One message per (notice id, recipient); one ledger row per expected charge; and every
        notice a closed case sends was sent."""
        sent = delivered(self.settings.outbox_dir)
        assert not repeated(sent), f"notices delivered more than once: {repeated(sent)}"
        assert charges(self.settings) == dict.fromkeys(charge_keys, 1)
        notices = {notice for notice, _ in sent}
        for case in cases:
            missing = expected_notices(case.case_id) - notices
            assert not missing, f"{case.case_id}: notices never sent: {sorted(missing)}"


def expected_notices(case_id: str, consults: int = 2, free: int = 1) -> set[str]:
    """The notices of a prudential-kh case run to CLOSED with `consults` consults."""
    out = {f"{case_id}:{kind}:1" for kind in ("case_opened", "records_complete", "records_to_specialist",
                                               "specialist_assigned", "report_delivered", "case_closed")}
    out |= {f"{case_id}:consult_booked:{n}" for n in range(1, consults + 1)}
    out |= {f"{case_id}:receipt:consult:{n}" for n in range(free + 1, consults + 1)}
    return out


@contextlib.asynccontextmanager
async def live_service(settings: Settings, temporal_address: str, log_file: Path) -> AsyncIterator[Live]:
    """The outbox, a case DB and a worker process for `settings`, all torn down on exit."""
    async with contextlib.AsyncExitStack() as stack:
        outbox = GatedOutbox(settings.outbox_dir, settings.smtp_host, settings.smtp_port).start()
        stack.callback(outbox.stop)
        services = Services.from_settings(settings)
        stack.callback(services.engine.dispose)
        proxy = await TcpProxy(temporal_address).start()
        stack.push_async_callback(proxy.close)
        lock = DbWriteLock(db_file(settings))
        stack.callback(lock.release)
        worker = WorkerProcess(worker_env(settings, temporal_address=proxy.address), log_file)
        stack.callback(_stop_and_show, worker)
        client = await connect(settings)
        worker.start()
        await worker.wait_polling(client)
        yield Live(
            settings=settings, services=services, client=client, outbox=outbox, proxy=proxy,
            worker=worker, lock=lock, prefix=f"REL-{settings.task_queue.rsplit('-', 1)[-1]}",
        )


def _stop_and_show(worker: WorkerProcess) -> None:
    worker.kill()
    # Shown by pytest only when the test failed.
    print(f"---- worker log ({worker.starts} starts, {worker.kills} kills)\n{worker.log_tail(40)}")


async def closed(*cases: CaseDriver) -> list[CaseResult]:
    """Wait for every case's run to end; each must have ended CLOSED."""
    results = await asyncio.gather(*(c.result() for c in cases))
    assert [r.stage for r in results] == [Stage.CLOSED] * len(cases)
    return results


@dataclass
class Timer:
    """A durable timer as the server recorded it."""

    timer_id: str
    summary: str
    started: datetime
    deadline: datetime
    fired: datetime | None


async def timers(client: Client, handle: Handle) -> list[Timer]:
    """Every timer of the case's run, from its history (started, due, and fired if it has)."""
    found: dict[str, Timer] = {}
    async for event in handle.fetch_history_events():
        at = event.event_time.ToDatetime(tzinfo=UTC)
        if event.HasField("timer_started_event_attributes"):
            attrs = event.timer_started_event_attributes
            summary = ""
            if event.user_metadata.HasField("summary"):
                (summary,) = await client.data_converter.decode([event.user_metadata.summary])
            found[attrs.timer_id] = Timer(
                timer_id=attrs.timer_id, summary=str(summary), started=at,
                deadline=at + attrs.start_to_fire_timeout.ToTimedelta(), fired=None,
            )
        elif event.HasField("timer_fired_event_attributes"):
            found[event.timer_fired_event_attributes.timer_id].fired = at
    return list(found.values())


def short_timer_programs(directory: Path, reminder_every: Mapping[str, timedelta], lapse_after: int) -> Path:
    """Copies of programs/*.yaml whose records reminder comes every few seconds (a fraction of a
    day is allowed) and that lapse after `lapse_after` reminders."""
    import yaml

    directory.mkdir(parents=True, exist_ok=True)
    for source in sorted((PROJECT_ROOT / "programs").glob("*.yaml")):
        program = yaml.safe_load(source.read_text(encoding="utf-8"))
        every = reminder_every.get(program["name"])
        if every is not None:
            program["records"]["reminder_every_days"] = every / timedelta(days=1)
            program["records"]["reminders_before_lapse"] = lapse_after
        (directory / source.name).write_text(yaml.safe_dump(program, sort_keys=False), encoding="utf-8")
    return directory


class SwitchableSmtp:
    """The outbox SMTP server, which can be taken down (connections refused) and brought back on
    the same port and folder. An aiosmtpd controller cannot restart, so `up()` makes a new one."""

    def __init__(self, directory: Path, host: str, port: int, handler: OutboxHandler | None = None) -> None:
        self.directory, self.host, self.port = directory, host, port
        self.handler = handler
        self.server: OutboxServer | None = None

    def up(self) -> SwitchableSmtp:
        if self.server is None:
            self.server = OutboxServer(self.directory, self.host, self.port)
            if self.handler is not None:
                self.server.controller.handler = self.handler
            self.server.start()
        return self

    def down(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
