"""The worker: one process that hosts the case workflow and every activity.

`Services` holds the real clients (case DB, document store, SMTP, ledger, calendars);
tests build it with their own local backends and hand it to `build_worker`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Worker,
)

from activities.billing import BillingActivities, Ledger
from activities.calendar import CalendarActivities
from activities.calendar_watch import CalendarWatchActivities, watch_activities
from activities.cases import CaseActivities
from activities.eligibility import EligibilityActivities, SqlPolicyLookup
from activities.email import EmailActivities, MailConfig, SmtpMailer
from activities.roster import RosterActivities, SpecialtyMap
from activities.storage import DocumentStore, StorageActivities
from calendars import CalendarService
from models.case import case_id_from_workflow_id
from models.program import Program, load_programs
from models.settings import Settings
from runtime.db import init_db
from runtime.logging import configure_logging
from runtime.metrics import MetricsInterceptor, runtime_with_metrics, stage_gauge
from runtime.temporal import connect
from runtime.tracing import RequestIdWorkerInterceptor
from security.keys import KeyRing
from security.links import LinkSigner
from security.redaction import clear_phi
from web.portal.links import PortalLinks
from workflows.calendar_watch import CalendarWatchWorkflow, start_calendar_watch
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
        engine = engine or init_db(settings)
        return cls(
            settings=settings,
            engine=engine,
            programs=load_programs(settings.programs_dir),
            store=DocumentStore(settings.store_root, KeyRing.parse(doc_keys)),
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
            link_ttl=timedelta(hours=s.settings.link_ttl_hours),
        ),
        portal=PortalLinks.from_settings(s.engine, s.settings)
        if s.settings.hash_key.get_secret_value() else None,
    )
    billing = BillingActivities(s.ledger)
    calendar = CalendarActivities(s.calendars)
    return [
        cases.register_case,
        cases.record_outcome,
        cases.record_sla_round,
        eligibility.check_eligibility,
        roster.assign_specialist,
        storage.register_documents,
        storage.check_documents,
        email.send_notice,
        billing.charge_customer,
        calendar.sla_deadline,
        calendar.sla_elapsed,
        calendar.sla_next_close,
        *watch_activities(CalendarWatchActivities(s.calendars, s.engine)),
    ]


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
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue or services.settings.task_queue,
        workflows=[SmoCaseWorkflow, CalendarWatchWorkflow],
        activities=activities_for(services),
        interceptors=[RequestIdWorkerInterceptor(), LoggingInterceptor(), MetricsInterceptor()],
        workflow_failure_exception_types=workflow_failure_exception_types,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    services = Services.from_settings(settings)
    client = await connect(settings, runtime=runtime_with_metrics(settings))
    worker = build_worker(client, services)
    await start_calendar_watch(client, settings.task_queue)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    address = client.service_client.config.target_host
    log.info("worker started", task_queue=settings.task_queue, address=address)
    async with worker, stage_gauge(client, settings):
        await stop.wait()
        log.info("worker stopping: finishing in-flight tasks")
    log.info("worker stopped")


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    asyncio.run(run_worker(settings))


if __name__ == "__main__":
    main()
