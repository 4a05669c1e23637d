"""Prometheus metrics: a real worker process serves `temporal_…` and `smo_…` series on its own
port while a case runs on the dev server, and no label carries a case id or PHI."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.cases import CaseActivities
from calendars import CalendarService
from models.case import Stage
from models.notices import Notice, NoticeKind
from models.settings import Settings
from models.sla import RoundOutcome, SlaRoundRecord
from runtime.devserver import DevServer
from runtime.metrics import TURNAROUND, runtime_with_metrics, turnaround_working_days
from runtime.outbox import OutboxServer
from runtime.temporal import connect, converter_for
from tests import scenario
from tests.conftest import free_port
from tests.reliability.harness import CaseDriver, WorkerProcess, patient, worker_env
from worker import Services, activities_for, build_worker

ROOT = Path(__file__).resolve().parents[1]

Sample = tuple[str, dict[str, str], float]


def scrape(port: int) -> list[Sample]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return [
        (s.name, dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def exporter(settings: Settings) -> tuple[int, Runtime]:
    """An SDK runtime exporting on a port of its own."""
    port = free_port()
    return port, runtime_with_metrics(settings.model_copy(update={"metrics_port": port}))


def value(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(v for n, lbl, v in samples if n == name and labels.items() <= lbl.items())


async def scrape_until(port: int, name: str, timeout: float = 60.0, **labels: str) -> list[Sample]:
    """Scrape until `name{labels}` is non-zero (the gauge refreshes on its own schedule)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        samples = await asyncio.to_thread(scrape, port)
        if value(samples, name, **labels) > 0:
            return samples
        if loop.time() > deadline:
            raise AssertionError(f"{name}{labels} never appeared in /metrics")
        await asyncio.sleep(0.5)


@dataclass
class MetricsWorker:
    client: Client
    settings: Settings
    services: Services
    worker: WorkerProcess
    metrics_port: int

    def case(self, n: int) -> CaseDriver:
        return CaseDriver(self.client, self.settings, self.services.store, f"MET-{n}", patient(n))


@pytest.fixture
async def metrics_worker(
    smo_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[MetricsWorker]:
    server = DevServer(tmp_path / "temporal.db", port=free_port(), ui=False)
    await server.start()
    monkeypatch.setenv("SMO_TEMPORAL_ADDRESS", server.address)
    settings = Settings()
    port = free_port()
    outbox = OutboxServer(settings.outbox_dir, settings.smtp_host, settings.smtp_port).start()
    services = Services.from_settings(settings)
    env = worker_env(settings, SMO_METRICS_PORT=str(port), SMO_STAGE_GAUGE_SECONDS="0.5")
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        client = await connect(settings)
        worker.start()
        await worker.wait_polling(client)
        yield MetricsWorker(client, settings, services, worker, port)
    finally:
        worker.kill()
        print(worker.log_tail(40))  # shown when the test failed
        services.engine.dispose()
        outbox.stop()
        await server.stop()


async def test_a_worker_serves_sdk_and_business_metrics_without_case_ids_or_phi(
    metrics_worker: MetricsWorker,
) -> None:
    case = metrics_worker.case(1)
    await case.open()
    # While it waits for records, the stage gauge counts it (from visibility).
    samples = await scrape_until(metrics_worker.metrics_port, "smo_cases_by_stage", stage="GATHERING_RECORDS")
    assert value(samples, "smo_cases_by_stage", stage="GATHERING_RECORDS", program="prudential-kh") == 1
    assert value(samples, "smo_cases_by_stage", program="assist-america") == 0

    result = await case.finish(consults=2)  # the second consult is billed
    assert result.stage is Stage.CLOSED
    samples = await scrape_until(metrics_worker.metrics_port, "smo_cases_closed_total")

    # The SDK runtime's own series and the business ones share the endpoint.
    names = {name for name, _, _ in samples}
    assert any(n.startswith("temporal_") for n in names), sorted(names)
    assert value(samples, "smo_cases_opened_total", program="prudential-kh") == 1
    assert value(samples, "smo_cases_closed_total", program="prudential-kh", outcome="CLOSED") == 1
    assert value(samples, "smo_charges_total", kind="consult", outcome="charged") == 1
    assert value(samples, "smo_notices_total", kind="case_opened", outcome="sent") == 1
    assert value(samples, "smo_notices_total", kind="report_delivered", outcome="sent") == 1
    assert value(samples, "smo_notices_total", activity_type="send_notice") >= 6

    # No label value names the case or the patient.
    intake = case.intake
    forbidden = [case.case_id, case.handle.id, intake.patient_name, str(intake.email),
                 intake.date_of_birth.isoformat(), intake.diagnosis_text, intake.phone]
    label_values = {v for _, labels, _ in samples for v in labels.values()}
    leaked = [(v, f) for v in label_values for f in forbidden if f.lower() in v.lower()]
    assert leaked == []


def test_a_second_exporter_on_a_taken_port_leaves_the_worker_running_without_metrics(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    port, first = exporter(settings)
    first.metric_meter.create_counter("smo_probe", "a probe").add(1)
    assert value(scrape(port), "smo_probe_total") == 1
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = int(taken.getsockname()[1])
        fallback = runtime_with_metrics(settings.model_copy(update={"metrics_port": busy}))
    assert fallback is not first
    assert "metrics endpoint not started" in capsys.readouterr().out
    # The same address in the same process is the same runtime, not a second bind.
    assert runtime_with_metrics(settings.model_copy(update={"metrics_port": port})) is first


def sla_round(received: str, ended: str, outcome: RoundOutcome, **kw: object) -> SlaRoundRecord:
    fields: dict[str, object] = {
        "case_id": "T-1", "program": "prudential-kh", "assignment_no": 1, "specialist_id": "SP-1",
        "working_days": 10, "calendars": ["KH", "US"], "received_at": datetime.fromisoformat(received),
        "due_at": None, "ended_at": datetime.fromisoformat(ended), "outcome": outcome,
    } | kw
    return SlaRoundRecord.model_validate(fields)


def test_turnaround_counts_the_working_day_the_report_arrived_on() -> None:
    service = CalendarService(None)
    # Records on Monday 2026-11-02 10:00 ICT: Tuesday is day 1, Friday the 6th day 4.
    assert turnaround_working_days(
        sla_round("2026-11-02T10:00+07:00", "2026-11-06T09:00+07:00", RoundOutcome.MET), service
    ) == 4
    # Exactly at 17:00 of day 4 is still day 4; a minute later it is day 5 (next Monday).
    assert turnaround_working_days(
        sla_round("2026-11-02T10:00+07:00", "2026-11-06T17:00+07:00", RoundOutcome.MET), service
    ) == 4
    assert turnaround_working_days(
        sla_round("2026-11-02T10:00+07:00", "2026-11-06T17:01+07:00", RoundOutcome.MET), service
    ) == 5
    # Two working days waiting for information do not count.
    assert turnaround_working_days(
        sla_round("2026-11-02T10:00+07:00", "2026-11-06T09:00+07:00", RoundOutcome.MET,
                  paused_working_days=2), service
    ) == 2


async def test_a_recorded_review_round_lands_in_the_turnaround_histogram(services: Services) -> None:
    port, runtime = exporter(services.settings)
    env = ActivityEnvironment()
    env.metric_meter = runtime.metric_meter
    cases = CaseActivities(services.engine, services.programs, services.specialties)
    late = sla_round("2026-11-02T10:00+07:00", "2026-11-20T12:00+07:00", RoundOutcome.LATE, breached=True)
    await env.run(cases.record_sla_round, late)
    await env.run(cases.record_sla_round, late)  # a retry finds the round written: counted once

    samples = await asyncio.to_thread(scrape, port)
    assert value(samples, f"{TURNAROUND}_count", program="prudential-kh") == 1
    assert value(samples, f"{TURNAROUND}_bucket", program="prudential-kh", le="10") == 0
    assert value(samples, f"{TURNAROUND}_bucket", program="prudential-kh", le="12") == 1
    assert value(samples, "smo_sla_rounds_total", outcome="late") == 1
    assert value(samples, "smo_sla_rounds_breached_total", program="prudential-kh") == 1
    # The histogram's own label is the program; the rest are the SDK's activity labels.
    assert {k for n, lbl, _ in samples if n.startswith(TURNAROUND) for k in lbl} <= {
        "program", "le", "service_name", "activity_type", "namespace", "task_queue", "workflow_type"}


async def test_an_sla_warning_counts_once_however_often_its_notice_is_retried(
    services: Services, outbox: OutboxServer
) -> None:
    port, runtime = exporter(services.settings)
    env = ActivityEnvironment()
    env.metric_meter = runtime.metric_meter
    email = next(a for a in activities_for(services) if getattr(a, "__name__", "") == "send_notice")
    warning = Notice(notice_id="KH-W-1:sla_warning:1", case_id="KH-W-1", kind=NoticeKind.SLA_WARNING,
                     due_at=datetime.fromisoformat("2026-12-10T17:00+07:00"))
    await env.run(email, warning)
    await env.run(email, warning)  # a retry after a lost completion

    samples = await asyncio.to_thread(scrape, port)
    assert value(samples, "smo_sla_warnings_total") == 1
    assert value(samples, "smo_notices_total", kind="sla_warning", outcome="sent") == 1
    assert value(samples, "smo_notices_total", kind="sla_warning", outcome="already_sent") == 1


async def test_a_mail_server_that_is_down_counts_as_an_outside_system_failure(
    settings: Settings, ts_env: WorkflowEnvironment
) -> None:
    port, runtime = exporter(settings)
    client = await Client.connect(
        ts_env.client.service_client.config.target_host,
        namespace=ts_env.client.namespace,
        data_converter=converter_for(settings),
        runtime=runtime,
    )
    services = Services.from_settings(settings)  # no SMTP server listens on its port
    try:
        async with build_worker(client, services):
            await scenario.start(client, settings, scenario.case_input(services, "KH-DOWN-1"))
            samples = await scrape_until(
                port, "smo_activity_failures_total", activity_type="send_notice", kind="outside"
            )
    finally:
        services.engine.dispose()
    failures = [lbl for n, lbl, _ in samples if n == "smo_activity_failures_total"]
    assert {f["error"] for f in failures} <= {"SMTPConnectError", "SMTPConnectTimeoutError", "OSError"}


def test_the_dashboard_queries_only_metrics_the_service_emits() -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "smo.json").read_text())
    source = (ROOT / "runtime" / "metrics.py").read_text()
    exprs = [t["expr"] for p in dashboard["panels"] if p["type"] != "row" for t in p["targets"]]
    assert exprs
    for name in {m for e in exprs for m in re.findall(r"\bsmo_[a-z_]+", e)}:
        base = re.sub(r"_(total|bucket|sum|count)$", "", name)
        assert f'"{base}"' in source, f"{name} is not a metric of runtime/metrics.py"
    assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in dashboard["panels"])
