"""The worker: processes that host the case workflow and every activity.

`Services` holds the real clients (case DB, document store, SMTP, ledger, calendars);
tests build it with their own local backends and hand it to `build_worker`. `run` starts one
worker in this process or N worker processes (each with its own client) for more cores; the
sticky cache of each is sized from the memory budget `SMO_WORKER_MEMORY_MB`
(docs/performance.md has the measurements behind the numbers below).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import structlog
from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    UnsandboxedWorkflowRunner,
    Worker,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.billing import BillingActivities, Ledger
from activities.calendar import CalendarActivities
from activities.calendar_watch import CalendarWatchActivities, watch_activities
from activities.case_views import CaseViewActivities
from activities.cases import CaseActivities
from activities.consults import ConsultActivities
from activities.eligibility import EligibilityActivities, SqlPolicyLookup
from activities.monthly_report import MonthlyReportActivities
from activities.notices import EmailActivities, MailConfig
from activities.retention import RetentionActivities
from activities.roster import RosterActivities, SpecialtyMap
from activities.storage import StorageActivities
from calendars import CalendarService
from models.case import case_id_from_workflow_id
from models.program import Program, load_programs
from models.settings import Settings
from reports.monthly import monthly_email
from runtime.blobs import open_blobs
from runtime.case_views import CaseViews
from runtime.db import init_db
from runtime.documents import DocumentStore
from runtime.logging import configure_logging
from runtime.mail import SmtpMailer
from runtime.metrics import MetricsInterceptor, runtime_with_metrics, stage_gauge
from runtime.portal_links import PortalLinks
from runtime.processes import supervise
from runtime.temporal import connect
from runtime.tracing import RequestIdWorkerInterceptor
from security.keys import KeyRing
from security.links import LinkSigner
from security.redaction import clear_phi
from service.monthly_report import ensure_report_schedule
from service.retention import ensure_purge_schedule
from workflows.calendar_watch import CalendarWatchWorkflow, start_calendar_watch
from workflows.monthly_report import MonthlyReportWorkflow
from workflows.retention import EraseCaseWorkflow, RetentionPurgeWorkflow
from workflows.smo_case import SmoCaseWorkflow

log = structlog.get_logger(__name__)


@dataclass
class Services:
    settings: Settings
    engine: Engine
    programs: Mapping[str, Program]
    store: DocumentStore
    mailer: SmtpMailer
    ledger: Ledger
    calendars: CalendarService
    specialties: SpecialtyMap
    signer: LinkSigner

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine | None = None) -> Services:
        doc_keys = settings.document_keys.get_secret_value()
        if not doc_keys:
            raise RuntimeError("SMO_DOCUMENT_KEYS is not set: documents must be encrypted at rest")
        link_secret = settings.link_secret.get_secret_value()
        if not link_secret:
            raise RuntimeError("SMO_LINK_SECRET is not set: report links must be signed")
        # A store that cannot be reached, or refuses the credentials, stops the start-up here,
        # before the case DB is touched.
        blobs = open_blobs(settings.store_url)
        blobs.check()
        engine = engine or init_db(settings)
        store = DocumentStore(blobs, KeyRing.parse(doc_keys), engine)
        return cls(
            settings=settings,
            engine=engine,
            programs=load_programs(settings.programs_dir),
            store=store,
            mailer=SmtpMailer(settings.smtp_host, settings.smtp_port),
            ledger=Ledger(engine),
            calendars=CalendarService(settings.holiday_overrides),
            specialties=SpecialtyMap.load(settings.specialties_file),
            signer=LinkSigner(link_secret.encode(), settings.base_url),
        )


def activities_for(services: Services) -> list[Callable[..., Any]]:
    s = services
    cases = CaseActivities(s.engine, s.programs, s.specialties)
    eligibility = EligibilityActivities(s.engine, s.programs, SqlPolicyLookup(s.engine))
    roster = RosterActivities(s.engine, s.specialties)
    storage = StorageActivities(s.store, s.engine)
    email = EmailActivities(
        s.engine,
        s.mailer,
        s.store,
        s.signer,
        MailConfig(
            mail_from=s.settings.mail_from,
            coordinator=s.settings.coordinator_email,
            supervisor=s.settings.supervisor_email,
            translator=s.settings.translator_email,
            link_ttl=timedelta(hours=s.settings.link_ttl_hours),
        ),
        portal=PortalLinks.from_settings(s.engine, s.settings)
        if s.settings.hash_key.get_secret_value()
        else None,
        programs=s.programs,
    )
    billing = BillingActivities(s.ledger)
    calendar = CalendarActivities(s.calendars)
    retention = RetentionActivities(s.store, s.engine, s.programs)
    return [
        cases.register_case,
        cases.record_outcome,
        cases.record_sla_round,
        cases.record_opinion,
        cases.record_survey,
        cases.record_follow_up_round,
        eligibility.check_eligibility,
        roster.assign_specialist,
        storage.register_documents,
        storage.check_documents,
        storage.discard_documents,
        email.send_notice,
        billing.charge_customer,
        calendar.sla_deadline,
        calendar.sla_elapsed,
        calendar.sla_next_close,
        ConsultActivities(s.engine, s.calendars).consult_availability,
        *watch_activities(CalendarWatchActivities(s.calendars, s.engine)),
        retention.erase_case,
        retention.due_for_purge,
        CaseViewActivities(CaseViews(s.engine)).write_case_view,
        MonthlyReportActivities(
            s.engine,
            s.mailer,
            s.calendars,
            partial(monthly_email, s.engine, s.calendars, s.programs),
            mail_from=s.settings.mail_from,
            supervisors=s.settings.supervisor_email,
        ).send_monthly_report,
    ]


# Measured with bench/parked.py (docs/performance.md): the RSS of a worker process with nothing
# cached, and what each case in the sticky cache adds, per workflow runner.
IDLE_WORKER_MIB = 140.0
CACHED_CASE_MIB = {"off": 0.22, "passthrough": 0.22, "full": 0.38}
# Room left for activities, query replays and allocator slack on top of the cache.
CACHE_SHARE = 0.6
MIN_CACHED = 10
MAX_CONCURRENT_TASKS = 100


def sticky_cache_size(memory_mb: int, *, processes: int = 1, sandbox: str = "off") -> int:
    """How many cases one worker process keeps in its sticky cache within its share of the budget.

    A case past the cache costs one history replay the next time it is touched (a timer, an
    update or a `status` query); a cached one costs memory for as long as it stays open.
    """
    room = memory_mb / processes - IDLE_WORKER_MIB
    return max(MIN_CACHED, int(room * CACHE_SHARE / CACHED_CASE_MIB[sandbox]))


def workflow_runner(sandbox: str) -> WorkflowRunner:
    """The runner for `SMO_WORKER_SANDBOX`.

    "off" runs workflow code as plain Python: no per-run module re-import and no proxies on
    every activation. Measured against "full": 17 % less CPU per parked case, 42 % less per
    cold query, 45 % less memory per cached case. What the
    sandbox caught at run time is then caught before merge: tests/test_determinism_lint.py scans
    workflows/ for I/O, wall clock, randomness and threads, and tests/test_replay.py replays the
    recorded cases (in the full sandbox, the Replayer's default). "passthrough" keeps the
    sandbox's checks without re-importing modules; "full" is the SDK's default.
    """
    if sandbox == "off":
        return UnsandboxedWorkflowRunner()
    if sandbox == "passthrough":
        restrictions = SandboxRestrictions.default.with_passthrough_all_modules()
        return SandboxedWorkflowRunner(restrictions=restrictions)
    return SandboxedWorkflowRunner()


class _BindActivityContext(ActivityInboundInterceptor):
    """Bind case id, workflow id and activity to every structlog line an activity writes."""

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        wid = info.workflow_id or ""
        with structlog.contextvars.bound_contextvars(
            case_id=case_id_from_workflow_id(wid), workflow_id=wid, activity=info.activity_type
        ):
            try:
                return await self.next.execute_activity(input)
            finally:
                clear_phi()


class LoggingInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _BindActivityContext(next)


def build_worker(
    client: Client,
    services: Services,
    *,
    task_queue: str | None = None,
    workflow_failure_exception_types: Sequence[type[BaseException]] = (),
    processes: int = 1,
) -> Worker:
    s = services.settings
    cached = sticky_cache_size(s.worker_memory_mb, processes=processes, sandbox=s.worker_sandbox)
    return Worker(
        client,
        task_queue=task_queue or s.task_queue,
        workflows=[
            SmoCaseWorkflow,
            CalendarWatchWorkflow,
            EraseCaseWorkflow,
            RetentionPurgeWorkflow,
            MonthlyReportWorkflow,
        ],
        activities=activities_for(services),
        interceptors=[RequestIdWorkerInterceptor(), LoggingInterceptor(), MetricsInterceptor()],
        workflow_failure_exception_types=workflow_failure_exception_types,
        graceful_shutdown_timeout=timedelta(seconds=10),
        workflow_runner=workflow_runner(s.worker_sandbox),
        max_cached_workflows=cached,
        # The SDK refuses more concurrent workflow tasks than cached workflows.
        max_concurrent_workflow_tasks=min(MAX_CONCURRENT_TASKS, cached),
    )


async def run_worker(
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    processes: int = 1,
    publish_stage_counts: bool = True,
) -> None:
    services = Services.from_settings(settings)
    client = await connect(settings, runtime=runtime_with_metrics(settings))
    worker = build_worker(client, services, processes=processes)
    await start_calendar_watch(client, settings.task_queue)
    await ensure_purge_schedule(client, settings.task_queue)  # the daily retention purge
    await ensure_report_schedule(client, settings.task_queue)  # the monthly report to supervisors
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    address = client.service_client.config.target_host
    log.info(
        "worker started",
        task_queue=settings.task_queue,
        address=address,
        sandbox=settings.worker_sandbox,
        max_cached_workflows=worker.config()["max_cached_workflows"],
    )
    # With N processes only the first counts cases by stage: N gauges would count them N times.
    gauge = (
        stage_gauge(client, settings, services.engine) if publish_stage_counts else contextlib.nullcontext()
    )
    async with worker, gauge:
        await stop.wait()
        log.info("worker stopping: finishing in-flight tasks")
    log.info("worker stopped")


def _worker_process(settings: Settings, processes: int, index: int) -> None:
    """One of `run`'s worker processes: its own client, its share of the memory budget, and its
    own metrics port (SMO_METRICS_PORT + index: one exporter per port and process)."""
    from runtime.devserver import _die_with_parent

    _die_with_parent()  # a supervisor killed by SIGKILL leaves no worker behind
    if settings.metrics_port > 0:
        settings = settings.model_copy(update={"metrics_port": settings.metrics_port + index})
    configure_logging(settings.log_format, settings.log_level)
    asyncio.run(run_worker(settings, processes=processes, publish_stage_counts=index == 0))
    exit_after_clean_stop()


def exit_after_clean_stop() -> None:
    """Exit 0 once the worker has stopped cleanly, without finalizing the interpreter.

    The SDK's Rust runtime keeps native threads that call into Python (its log and metric
    forwarding); one that wakes while the interpreter finalizes aborts the process
    (`PyGILState_Release … finalizing`, exit -6) after the worker had stopped cleanly. By now
    every task has finished and every transaction is committed: flush the output and go.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run(settings: Settings, processes: int | None = None) -> None:
    """Run the worker until SIGINT or SIGTERM: here, or as `processes` worker processes.

    Workflow code and activities are CPU-bound Python, so one process uses one core. With N > 1
    this process only supervises them (runtime/processes.py).
    """
    n = processes or settings.worker_processes
    if n == 1:
        asyncio.run(run_worker(settings))
        return
    supervise(functools.partial(_worker_process, settings, n), n, "worker")


def main() -> None:
    # Bytecode is allowed even where PYTHONDONTWRITEBYTECODE is set: a worker that compiles its
    # modules again on every start (and, sandboxed, on every case run) wastes its CPU.
    sys.dont_write_bytecode = False
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    run(settings)
    exit_after_clean_stop()


if __name__ == "__main__":
    main()
