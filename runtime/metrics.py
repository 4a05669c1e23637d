"""Prometheus metrics: the SDK runtime's own `temporal_…` series and the service's `smo_…` ones.

One SDK `Runtime` per process serves `/metrics` on `SMO_METRICS_HOST:SMO_METRICS_PORT`;
the client built on it (`runtime.temporal.connect(settings, runtime=…)`) gives the worker
its meter, so business metrics recorded from activities (`activity.metric_meter()`) and the
SDK's own metrics leave through the same endpoint. Workflow code records nothing.

Labels are low-cardinality and carry no PHI and no case ids: program, stage, notice kind,
charge kind, outcome, activity type, error type. Counters count what the case DB committed
(a case row created, a case closed, a review round written, a notice sent), so a retried
activity does not count twice; the monthly SLA report stays the exact record.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.exceptions import ApplicationError
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from calendars import CalendarService, compute_due, elapsed_working_days
from models.case import Stage
from models.program import load_programs
from models.settings import Settings
from models.sla import SlaRoundRecord
from runtime.case_views import CaseViews
from runtime.logging import core_logging
from runtime.temporal import sdk_runtime

log = structlog.get_logger(__name__)

TURNAROUND = "smo_report_turnaround_working_days"
# Working-day buckets around the programs' SLAs (5 and 10 working days).
TURNAROUND_BUCKETS = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0)
SLA_NOTICES = {"sla_warning": "smo_sla_warnings", "sla_breach": "smo_sla_breaches"}

_runtimes: dict[str, Runtime] = {}


def runtime_with_metrics(settings: Settings) -> Runtime:
    """The process's SDK runtime, exporting Prometheus on the configured address.

    One per address and process (a second exporter on the same port cannot bind). When the
    port is taken the worker still runs cases, without metrics, and says so: a scrape target
    that is down is what the operator's alert sees, a stopped worker would be worse.
    """
    if settings.metrics_port <= 0:
        return sdk_runtime()
    address = f"{settings.metrics_host}:{settings.metrics_port}"
    found = _runtimes.get(address)
    if found is not None:
        return found
    try:
        runtime = Runtime(
            telemetry=TelemetryConfig(
                logging=core_logging(),
                metrics=PrometheusConfig(
                    bind_address=address,
                    counters_total_suffix=True,
                    histogram_bucket_overrides={TURNAROUND: list(TURNAROUND_BUCKETS)},
                ),
            )
        )
    except ValueError as err:  # the SDK's "Failed starting Prometheus exporter: …"
        log.error("metrics endpoint not started; running without metrics", address=address, error=str(err))
        return sdk_runtime()
    log.info("metrics endpoint started", url=f"http://{address}/metrics")
    _runtimes[address] = runtime
    return runtime


def _meter() -> MetricMeter:
    """The running activity's meter (noop outside an activity, e.g. in a unit test)."""
    try:
        return activity.metric_meter()
    except RuntimeError:
        return MetricMeter.noop


def _count(name: str, description: str, labels: Mapping[str, str]) -> None:
    _meter().create_counter(name, description).add(1, dict(labels))


# ---- the helpers activities call (one line each) ---------------------------------------------


def case_opened(program: str) -> None:
    _count("smo_cases_opened", "Cases registered in the case DB", {"program": program})


def case_closed(program: str, stage: Stage) -> None:
    labels = {"program": program, "outcome": stage.value}
    _count("smo_cases_closed", "Cases that reached a final stage", labels)


def notice(kind: str, outcome: str) -> None:
    """A notice went out (`sent`) or a retry found it sent (`already_sent`); refusals by the
    mail server are counted as activity failures (`MailRejected`)."""
    _count("smo_notices", "Notices by kind and outcome", {"kind": kind, "outcome": outcome})
    escalation = SLA_NOTICES.get(kind)
    if escalation is not None and outcome == "sent":
        _count(escalation, "SLA escalations sent", {"kind": kind})


def charge(kind: str, *, created: bool) -> None:
    outcome = "charged" if created else "already_charged"
    _count("smo_charges", "Charges by kind and outcome", {"kind": kind, "outcome": outcome})


def sla_round(rec: SlaRoundRecord) -> None:
    """One review round ended: its outcome, whether it breached, its turnaround. Called off the
    event loop, where the round's row is written (the holiday tables may have to be built)."""
    labels = {"program": rec.program, "outcome": rec.outcome.value}
    _count("smo_sla_rounds", "Review rounds by outcome", labels)
    if rec.breached:
        _count("smo_sla_rounds_breached", "Review rounds that breached their SLA", {"program": rec.program})
    if rec.outcome.value in ("met", "late"):
        days = turnaround_working_days(rec, _calendar_service())
        _meter().create_histogram(
            TURNAROUND, "Working days from complete records to the report", "working_days"
        ).record(days, {"program": rec.program})


@functools.cache
def _calendar_service() -> CalendarService:
    # The same holiday decrees the worker's deadlines use (the file is re-read when it changes).
    return CalendarService(Settings().holiday_overrides)


def turnaround_working_days(rec: SlaRoundRecord, service: CalendarService) -> int:
    """The working day on which the report arrived, counting the first working day after the
    complete records as day 1, stopped-clock days excluded (on time ⇔ ≤ the SLA's N)."""
    calendars = service.calendars(rec.calendars)
    day0 = compute_due(rec.received_at, 1, calendars, warn_ratio=None).day0
    # A report at exactly 17:00 on day N is day N, not N + 1.
    used = elapsed_working_days(day0, rec.ended_at - timedelta(microseconds=1), calendars)
    return max(used + 1 - rec.paused_working_days, 1)


# ---- outside-system failures, for every activity ------------------------------------------


class _CountFailures(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except Exception as err:
            business = isinstance(err, ApplicationError) and err.non_retryable
            error = err.type if isinstance(err, ApplicationError) and err.type else type(err).__name__
            _count(
                "smo_activity_failures",
                "Activity attempts that failed: outside systems (retried) or business refusals",
                {"error": error, "kind": "business" if business else "outside"},
            )
            raise


class MetricsInterceptor(Interceptor):
    """Counts failed activity attempts by error type (the SDK's meter adds the activity type)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CountFailures(next)


# ---- cases by stage, from the read model ---------------------------------------------------

OPEN_STAGES = [s for s in Stage if not s.terminal]


def publish_stage_counts(views: CaseViews, meter: MetricMeter, programs: Iterable[str]) -> None:
    """Set `smo_cases_by_stage{stage,program}` to the number of running cases in each: one
    grouped count on the case read model (every pair is set, the empty ones to 0)."""
    gauge = meter.create_gauge("smo_cases_by_stage", "Open cases per stage and program (read model)")
    counts = views.counts()
    for program in programs:
        for stage in OPEN_STAGES:
            gauge.set(counts.get((stage.value, program), 0), {"stage": stage.value, "program": program})


@contextlib.asynccontextmanager
async def stage_gauge(client: Client, settings: Settings, engine: Engine) -> AsyncIterator[None]:
    """While open, refresh the cases-by-stage gauge every `SMO_STAGE_GAUGE_SECONDS`."""
    if settings.metrics_port <= 0:
        yield
        return
    meter = (client.service_client.config.runtime or Runtime.default()).metric_meter
    programs = sorted(load_programs(settings.programs_dir))
    views = CaseViews(engine)

    async def loop() -> None:
        while True:
            try:
                await asyncio.to_thread(publish_stage_counts, views, meter, programs)
            except Exception as err:  # the case DB briefly unavailable: try again next round
                log.warning("stage counts not refreshed", error=type(err).__name__)
            await asyncio.sleep(settings.stage_gauge_seconds)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
