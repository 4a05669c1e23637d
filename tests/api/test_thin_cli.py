"""The thin CLI: with only SMO_API_URL and SMO_TOKEN, from an empty folder, it runs a case."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import service
from starter.cli_common import explain as _explain
from tests.api.conftest import LiveApi
from tests.conftest import free_port

SMO = str(Path(sys.executable).parent / "smo")


async def smo(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    """Run `smo` as a coordinator's machine would, without blocking the in-process service."""
    proc = await asyncio.create_subprocess_exec(
        SMO, *args, env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def bare_env(url: str, token: str) -> dict[str, str]:
    """No SMO keys, no store, no Temporal address: only what a coordinator's laptop has."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "COLUMNS": "200",
        "SMO_API_URL": url,
        "SMO_TOKEN": token,
    }


async def test_a_cli_in_an_empty_folder_with_only_url_and_token_opens_a_case_and_adds_a_record(
    live_api: LiveApi, tmp_path: Path
) -> None:
    laptop = tmp_path / "laptop"
    laptop.mkdir()
    record = laptop / "biopsy.pdf"
    record.write_bytes(b"synthetic biopsy report\n" * 1000)
    env = bare_env(live_api.url, live_api.token("chenda"))
    code, out, err = await smo(
        *("case", "open", "--program", "prudential-kh", "--policy", "KH-DEMO-0001", "--case-id", "THIN-1"),
        *("--patient", "Test Member", "--dob", "1980-01-01", "--email", "member@example.com"),
        *("--icd10", "C50.912", "--diagnosis", "synthetic"),
        env=env,
        cwd=laptop,
    )
    assert code == 0, err
    assert "THIN-1" in out and "GATHERING_RECORDS" in out
    code, out, err = await smo(
        "records", "add", "THIN-1", "biopsy.pdf", "--type", "biopsy_report", env=env, cwd=laptop
    )
    assert code == 0, err
    assert out.startswith("THIN-1: GATHERING_RECORDS")
    code, out, err = await smo("case", "status", "THIN-1", "--json", env=env, cwd=laptop)
    status = json.loads(out)
    assert status["records"]["received"] == {"biopsy_report": 1} and "due_at" in status["sla"]
    code, out, err = await smo("case", "audit", "THIN-1", env=env, cwd=laptop)
    assert code == 0
    rows = [line for line in out.splitlines() if "chenda" in line]
    assert any("case.open" in r for r in rows) and any(
        "records.add" in r and "accepted" in r for r in rows
    ), out
    assert sorted(p.name for p in laptop.iterdir()) == ["biopsy.pdf"], "the CLI left files behind"


async def test_a_case_opened_in_khmer_keeps_its_language_until_the_desk_changes_it(
    live_api: LiveApi, tmp_path: Path
) -> None:
    env = bare_env(live_api.url, live_api.token("chenda"))
    code, out, err = await smo(
        *("case", "open", "--program", "prudential-kh", "--policy", "KH-DEMO-0001", "--case-id", "THIN-3"),
        *("--patient", "Test Member", "--dob", "1980-01-01", "--email", "member@example.com"),
        *("--icd10", "C50.912", "--diagnosis", "synthetic", "--language", "km", "--sex", "female"),
        env=env,
        cwd=tmp_path,
    )
    assert code == 0, err

    async def sheet() -> tuple[str, str | None]:
        intake = await service.current_details(live_api.env.client, live_api.services.store, "THIN-3")
        return intake.language, intake.sex

    assert await sheet() == ("km", "female")
    code, out, err = await smo("case", "language", "THIN-3", "en", env=env, cwd=tmp_path)
    assert (code, out.strip()) == (0, "THIN-3: GATHERING_RECORDS"), err
    assert await sheet() == ("en", "female")
    code, out, err = await smo("case", "language", "THIN-3", "fr", env=env, cwd=tmp_path)
    assert code == 2 and err.startswith("error: Invalid value for 'language'") and len(err.splitlines()) == 1
    # Every time the desk reads is in its own zone, named; never UTC or a bare offset.
    code, out, err = await smo("case", "status", "THIN-3", env=env, cwd=tmp_path)
    assert code == 0 and " ICT " in out and "UTC" not in out and "+07:00" not in out, out
    code, out, err = await smo("case", "audit", "THIN-3", env=env, cwd=tmp_path)
    assert code == 0 and "case.language" in out and " ICT " in out and "UTC" not in out, out


async def test_a_refusal_and_a_wrong_role_are_one_error_line_with_exit_code_2(
    live_api: LiveApi, tmp_path: Path
) -> None:
    env = bare_env(live_api.url, live_api.token("kanha"))
    await live_api.open_case(live_api.token("opener"), "THIN-2")
    code, _, err = await smo("records", "complete", "THIN-2", env=env, cwd=tmp_path)
    assert (code, err) == (2, "error: no records have been added yet\n")
    code, _, err = await smo("case", "cancel", "THIN-2", "--reason", "member withdrew", env=env, cwd=tmp_path)
    assert code == 2 and err.startswith("error: a coordinator may not cancel") and len(err.splitlines()) == 1
    bogus = env | {"SMO_TOKEN": "smo_bogus"}
    code, _, err = await smo("case", "status", "NOPE-1", env=bogus, cwd=tmp_path)
    assert code == 2 and err.startswith("error: a valid API token is required"), err


async def test_an_unreachable_api_is_one_readable_line(tmp_path: Path) -> None:
    env = bare_env(f"http://127.0.0.1:{free_port()}", "smo_" + "x" * 43)
    code, out, err = await smo("case", "status", "KH-1", env=env, cwd=tmp_path)
    assert code == 2 and err.startswith("error: cannot reach the SMO API at http://127.0.0.1:"), err
    assert len(err.splitlines()) == 1 and not out


def test_fixed_a_missing_file_is_reported_as_missing_not_as_an_unreachable_server() -> None:
    # FileNotFoundError is an OSError: it used to fall into the "cannot reach" branch.
    assert _explain(FileNotFoundError(2, "No such file or directory", "scan.pdf")) == "scan.pdf: no such file"
    assert "cannot reach" in (_explain(ConnectionRefusedError(111, "refused")) or "")


def test_the_coordinators_commands_import_neither_pydantic_nor_temporal_nor_sqlalchemy() -> None:
    import subprocess

    probe = "import sys, starter.cli; print(sorted({m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    for heavy in ("pydantic", "temporalio", "sqlalchemy", "aiohttp", "workalendar", "cryptography"):
        assert f"'{heavy}'" not in loaded, heavy
