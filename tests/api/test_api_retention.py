"""Legal hold and erasure through the API and the thin CLI: a supervisor erases a closed case and
its status and audit say when; everything else (a coordinator, a running, held, legacy or
erased case, an attacker's case id, a CLI without its confirmation) changes nothing."""

from __future__ import annotations

import asyncio
import sys
import zlib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select
from temporalio.client import WorkflowExecutionStatus
from yarl import URL

from models.db import table
from models.retention_tables import CaseErasureRow, CaseHoldRow, CaseKeyRow
from models.users import Role
from tests.api.conftest import LiveApi
from tests.api.test_api_consult_slots import delivered
from tests.api.test_thin_cli import bare_env
from tests.polling import eventually
from tests.retention_seed import make_legacy, objects_of, seed_case, years_ago

SMO = str(Path(sys.executable).parent / "smo")
WHY = {"reason": "the member asked us to erase their data (ticket 4411)"}


async def ended(live: LiveApi, case_id: str) -> None:
    """Wait until the case's workflow has finished (its final notice sent)."""
    handle = live.env.client.get_workflow_handle(f"smo-{case_id}")

    async def status() -> WorkflowExecutionStatus | None:
        return (await handle.describe()).status

    await eventually(status, lambda s: s is not WorkflowExecutionStatus.RUNNING)


async def cancelled_case(live: LiveApi, coordinator: str, supervisor: str, case_id: str) -> None:
    """A case with one record, cancelled by a supervisor and finished: closed in the case DB."""
    # A member of its own (one SMO per condition and member): born on a day of its own.
    born = date(1950, 1, 1) + timedelta(days=zlib.crc32(case_id.encode()) % 15000)
    await live.open_case(coordinator, case_id, date_of_birth=born.isoformat())
    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4 synthetic biopsy", filename="biopsy.pdf")
    path = f"/api/v1/cases/{case_id}"
    assert (await live.call("POST", f"{path}/records?record_type=biopsy_report", coordinator, data=form))[
        0
    ] == 200
    assert (await live.call("POST", f"{path}/cancel", supervisor, json={"reason": "member withdrew"}))[
        0
    ] == 200
    await ended(live, case_id)


async def erasure(live: LiveApi, token: str, case_id: str) -> dict[str, Any]:
    async def ask() -> tuple[int, Any]:
        status, body, _ = await live.call("GET", f"/api/v1/cases/{case_id}/erasure", token)
        return status, body

    return dict((await eventually(ask, lambda r: r[0] != 404, what=lambda r: str(r)))[1])


def count(live: LiveApi, model: type[Any]) -> int:
    rows = table(model)
    with live.services.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(rows)).scalar_one())


async def test_a_supervisor_erases_a_closed_case_and_its_status_and_audit_say_when(live_api: LiveApi) -> None:
    live, store = live_api, live_api.services.store
    coordinator, supervisor = live.token("chenda"), live.token("boss", Role.SUPERVISOR)
    await delivered(live, coordinator, "ER-CLOSED-1")
    assert (await live.call("POST", "/api/v1/cases/ER-CLOSED-1/close", coordinator, json={}))[0] == 200
    await ended(live, "ER-CLOSED-1")
    assert objects_of(store, "ER-CLOSED-1")

    status, body, _ = await live.call("POST", "/api/v1/cases/ER-CLOSED-1/erase", coordinator, json=WHY)
    assert status == 403 and "coordinator may not" in body["error"], body
    status, body, _ = await live.call("POST", "/api/v1/cases/ER-CLOSED-1/erase", supervisor, json=WHY)
    assert status == 202 and body["pending"] and body["workflow_id"] == "erase-ER-CLOSED-1", body

    stub = await erasure(live, coordinator, "ER-CLOSED-1")
    assert (stub["how"], stub["erased_by"], stub["reason"]) == ("erased", "boss", WHY["reason"])
    assert stub["documents"] >= 3 and stub["program"] == "assist-america"
    assert objects_of(store, "ER-CLOSED-1") == []
    with live.services.engine.connect() as conn:
        keys = table(CaseKeyRow)
        key = conn.execute(select(keys).where(keys.c.case_id == "ER-CLOSED-1")).mappings().one()
    assert key["wrapped"] is None and key["destroyed_at"] is not None

    status, body, _ = await live.call("GET", "/api/v1/cases/ER-CLOSED-1", coordinator)
    assert status == 200 and body["stage"] == "CLOSED" and body["erasure"]["erased_at"] == stub["erased_at"]
    _, trail, _ = await live.call("GET", "/api/v1/cases/ER-CLOSED-1/audit", coordinator)
    events = [(e["actor"], e["action"], e["outcome"]) for e in trail["events"]]
    assert [e for e in events if e[0] == "chenda" and e[1] == "case.erase"] == []  # a 403 never got that far
    assert ("boss", "case.erase", "started") in events and ("boss", "case.erased", "erased") in events

    status, body, _ = await live.call("POST", "/api/v1/cases/ER-CLOSED-1/erase", supervisor, json=WHY)
    assert status == 409 and "erased already, at" in body["error"], body
    status, body, _ = await live.call("POST", "/api/v1/cases/ER-CLOSED-1/hold", supervisor, json=WHY)
    assert status == 409 and "nothing is left to hold" in body["error"], body
    assert count(live, CaseErasureRow) == 1 and count(live, CaseHoldRow) == 0


async def test_a_running_held_or_legacy_case_or_an_attackers_case_id_is_refused_and_nothing_changes(
    live_api: LiveApi,
) -> None:
    live, store = live_api, live_api.services.store
    coordinator, supervisor = live.token("chenda"), live.token("boss", Role.SUPERVISOR)
    await live.open_case(coordinator, "ER-RUNNING-1")
    status, body, _ = await live.call("POST", "/api/v1/cases/ER-RUNNING-1/erase", supervisor, json=WHY)
    assert status == 409 and "still running" in body["error"], body
    status, body, _ = await live.call("GET", "/api/v1/cases/ER-RUNNING-1/erasure", supervisor)
    assert status == 404 and body["error"] == "the case was not erased"

    await cancelled_case(live, coordinator, supervisor, "ER-HELD-1")
    hold = {"reason": "litigation hold, matter 77"}
    status, body, _ = await live.call("POST", "/api/v1/cases/ER-HELD-1/hold", coordinator, json=hold)
    assert status == 403, body
    status, body, _ = await live.call("POST", "/api/v1/cases/ER-HELD-1/hold", supervisor, json=hold)
    assert status == 200 and body["held"] and body["held_by"] == "boss", body
    status, body, _ = await live.call("POST", "/api/v1/cases/ER-HELD-1/erase", supervisor, json=WHY)
    assert status == 409 and "under legal hold since" in body["error"] and "by boss" in body["error"], body
    _, shown, _ = await live.call("GET", "/api/v1/cases/ER-HELD-1", coordinator)
    assert shown["hold"]["reason"] == hold["reason"] and shown["erasure"] is None

    await cancelled_case(live, coordinator, supervisor, "ER-LEGACY-1")
    make_legacy(live.services.engine, "ER-LEGACY-1")
    status, body, _ = await live.call("POST", "/api/v1/cases/ER-LEGACY-1/erase", supervisor, json=WHY)
    assert status == 409 and "run `smo storage rekey` first" in body["error"], body

    before = {c: objects_of(store, c) for c in ("ER-HELD-1", "ER-LEGACY-1")}
    for hostile in (
        "../ER-HELD-1",
        "..%2fER-HELD-1",
        "%2e%2e",
        "%2e%2e%2fER-HELD-1",
        "ER-HELD-1%00",
        "x" * 65,
    ):
        for action, payload in (("erase", WHY), ("hold", hold), ("hold/release", {})):
            # Sent as typed: no client-side clean-up of the path.
            url = URL(f"{live.url}/api/v1/cases/{hostile}/{action}", encoded=True)
            async with (
                aiohttp.ClientSession() as http,
                http.post(url, json=payload, headers=live.auth(supervisor)) as resp,
            ):
                assert 400 <= resp.status < 500 and resp.status != 409, (hostile, action, resp.status)
    assert {c: objects_of(store, c) for c in before} == before
    assert count(live, CaseErasureRow) == 0 and count(live, CaseHoldRow) == 1

    status, body, _ = await live.call("POST", "/api/v1/cases/ER-HELD-1/hold/release", supervisor, json={})
    assert status == 200 and not body["held"] and "placed by boss" in body["detail"], body
    status, body, _ = await live.call("POST", "/api/v1/cases/ER-HELD-1/hold/release", supervisor, json={})
    assert status == 409 and "not under legal hold" in body["error"]
    _, trail, _ = await live.call("GET", "/api/v1/cases/ER-HELD-1/audit", supervisor)
    actions = [(e["action"], e["outcome"]) for e in trail["events"]]
    assert ("case.hold", "held") in actions and ("case.erase", "refused") in actions
    assert ("case.release", "released") in actions


async def test_a_closed_case_whose_history_the_server_no_longer_keeps_can_still_be_held_and_erased(
    live_api: LiveApi,
) -> None:
    live, store = live_api, live_api.services.store
    supervisor = live.token("boss", Role.SUPERVISOR)
    # Closed a year ago in the case DB, with one document; the server keeps no history of it.
    seed_case(live.services.engine, store, "ER-OLD-1", closed=years_ago(1), documents=1)
    path = "/api/v1/cases/ER-OLD-1"
    status, body, _ = await live.call("POST", f"{path}/hold", supervisor, json={"reason": "a claim dispute"})
    assert status == 200 and body["held"], body
    assert (await live.call("POST", f"{path}/hold/release", supervisor, json={}))[0] == 200
    other = live.token("aa-sup", Role.SUPERVISOR, programs=["assist-america"])
    assert (await live.call("POST", f"{path}/erase", other, json=WHY))[0] == 404  # not its program
    status, body, _ = await live.call("POST", f"{path}/erase", supervisor, json=WHY)
    assert status == 202, body
    assert (await erasure(live, supervisor, "ER-OLD-1"))["documents"] == 1
    assert objects_of(store, "ER-OLD-1") == []
    assert (await live.call("POST", "/api/v1/cases/NEVER-OPENED-1/erase", supervisor, json=WHY))[0] == 404


async def smo(*args: str, env: dict[str, str], cwd: Path, stdin: bytes = b"") -> tuple[int, str, str]:
    """`smo` as a supervisor's terminal runs it, answering its question with `stdin`."""
    proc = await asyncio.create_subprocess_exec(
        SMO,
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 300)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_cli_erases_a_case_only_once_its_id_is_typed_back_and_status_says_so_after_the_history_goes(
    live_api: LiveApi, tmp_path: Path
) -> None:
    live, store = live_api, live_api.services.store
    coordinator, supervisor = live.token("chenda"), live.token("boss", Role.SUPERVISOR)
    await cancelled_case(live, coordinator, supervisor, "ER-CLI-1")
    env = bare_env(live.url, supervisor)
    erase = ("case", "erase", "ER-CLI-1", "--reason", WHY["reason"])
    kept = objects_of(store, "ER-CLI-1")
    assert kept

    for answer in (b"", b"ER-CLI-2\n", b"yes\n"):
        code, out, err = await smo(*erase, env=env, cwd=tmp_path, stdin=answer)
        assert code == 2 and "error: not confirmed" in err and "ER-CLI-1 is unchanged" in err, (
            answer,
            out,
            err,
        )
    code, out, err = await smo(*erase, "--yes", env=bare_env(live.url, coordinator), cwd=tmp_path)
    assert code == 2 and "coordinator may not" in err, err
    hostile_ids = ("../ER-CLI-1", "ER-CLI-1/../ER-CLI-1", "%2e%2e", "ER-CLI-1\n")
    for args in [("erase", h, "--reason", WHY["reason"], "--yes") for h in hostile_ids] + [
        ("hold", "../ER-CLI-1", "--reason", "x y z")
    ]:
        code, out, err = await smo("case", *args, env=env, cwd=tmp_path)
        assert code == 2 and err.startswith("error: no such case"), (args, err)
    assert objects_of(store, "ER-CLI-1") == kept and count(live, CaseErasureRow) == 0

    code, out, err = await smo(*erase, env=env, cwd=tmp_path, stdin=b"ER-CLI-1\n")
    assert code == 0, err
    assert out.startswith("erased ER-CLI-1 at ") and out.rstrip().endswith(": 1 documents"), out
    assert objects_of(store, "ER-CLI-1") == []

    code, out, err = await smo("case", "status", "ER-CLI-1", env=env, cwd=tmp_path)
    assert code == 0 and "Erased: " in out and "(erased, the member asked" in out, out
    code, out, err = await smo("case", "audit", "ER-CLI-1", env=env, cwd=tmp_path)
    assert code == 0 and "case.erased" in out, out
    code, out, err = await smo(*erase, "--yes", env=env, cwd=tmp_path)
    assert code == 2 and "erased already" in err, err

    # Once the server keeps no history of a case (its namespace retention), the stub still answers.
    seed_case(live.services.engine, store, "ER-CLI-OLD", closed=years_ago(1), documents=1)
    assert (await live.call("POST", "/api/v1/cases/ER-CLI-OLD/erase", supervisor, json=WHY))[0] == 202
    await erasure(live, supervisor, "ER-CLI-OLD")
    code, out, err = await smo("case", "status", "ER-CLI-OLD", env=env, cwd=tmp_path)
    assert code == 0 and "ERASED" in out and "Erased: " in out and "1 documents removed" in out, (out, err)
    code, out, err = await smo("case", "audit", "ER-CLI-OLD", env=env, cwd=tmp_path)
    assert code == 0 and "case.erased" in out, out
    scoped = live.token("kh-only", Role.SUPERVISOR, programs=["assist-america"])
    assert (await live.call("GET", "/api/v1/cases/ER-CLI-OLD/erasure", scoped))[0] == 404  # out of scope
