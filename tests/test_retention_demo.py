"""The check of issue 28, end to end: `smo dev` on SeaweedFS, the demo case closed, then
`smo case erase` from a supervisor's terminal leaves no object of the case in the bucket and its
audit says it was erased."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.case import Stage
from models.settings import Settings
from models.users import Role
from runtime.db import audit_trail
from runtime.temporal import connect
from starter.demo import run_demo
from starter.dev import DevStack
from tests.api.test_api_retention import smo
from tests.api.test_thin_cli import bare_env
from tests.retention_seed import objects_of
from tests.seaweed import SeaweedFS
from web.tokens import TokenStore


@pytest.mark.s3
async def test_the_demo_case_closed_on_seaweedfs_is_erased_by_the_cli_and_leaves_no_object_in_the_bucket(
    settings: Settings, seaweed: SeaweedFS, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SMO_STORAGE_URL", seaweed.fresh_url())
    settings = Settings()
    async with DevStack(settings, ui=False) as stack:
        assert stack.services is not None
        store, engine = stack.services.store, stack.services.engine
        client = await connect(settings)
        result = await run_demo(client, settings, store, say=lambda _s: None)
        assert result.stage is Stage.CLOSED
        await client.get_workflow_handle(f"smo-{result.case_id}").result()  # the case has finished
        assert objects_of(store, result.case_id), "the demo's records are objects in the bucket"
        assert not any(p.is_file() for p in (settings.home / "storage").rglob("*"))

        supervisor = TokenStore(engine).add("boss", Role.SUPERVISOR)
        code, out, err = await smo(
            *("case", "erase", result.case_id, "--reason", "the member asked (ticket 1)", "--yes"),
            env=bare_env(settings.base_url, supervisor),
            cwd=tmp_path,
        )
        assert code == 0, err
        assert out.startswith(f"erased {result.case_id} at "), out

        assert objects_of(store, result.case_id) == []
        trail = [(e.actor, e.action) for e in audit_trail(engine, result.case_id)]
        assert ("boss", "case.erased") in trail
