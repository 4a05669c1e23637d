"""`smo program ...` and `smo eligibility check` through Typer's test runner on a temp SQLite."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import typer
from sqlmodel import Session
from typer.testing import CliRunner, Result

from models.db import CaseRow
from runtime.db import make_engine, upgrade
from starter.program_cli import eligibility_app, program_app

# A distinctive diagnosis, so a leak anywhere is easy to spot.
DIAGNOSIS = "Invasive ductal carcinoma left breast ZQX-7731"

root = typer.Typer()
root.add_typer(program_app, name="program")
root.add_typer(eligibility_app, name="eligibility")


@pytest.fixture(autouse=True)
def temp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SMO_HOME", str(tmp_path / "home"))
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("SMO_PROGRAMS_DIR", raising=False)
    upgrade(make_engine(url))  # an operated database is migrated before the service uses it
    return tmp_path


def smo(*args: str) -> Result:
    return CliRunner().invoke(root, list(args))


def check(*extra: str, program: str = "prudential-kh", policy: str = "KH-DEMO-0001",
          icd10: str = "C50.912") -> Result:  # fmt: skip
    return smo(
        "eligibility", "check", "--program", program, "--policy", policy,
        "--icd10", icd10, "--diagnosis", DIAGNOSIS, *extra,
    )  # fmt: skip


def assert_bad_input(result: Result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.output
    assert DIAGNOSIS not in result.output


# ---- smo program ---------------------------------------------------------------------------


def test_program_list_shows_both_programs() -> None:
    result = smo("program", "list")
    assert result.exit_code == 0, result.output
    assert "prudential-kh" in result.stdout and "assist-america" in result.stdout


def test_program_show_json_is_the_full_program() -> None:
    result = smo("program", "show", "prudential-kh", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["sla"]["working_days"] == 10
    assert [r["code"] for r in data["eligibility"]["rules"]][:3] == ["policy_in_force", "a", "b"]


def test_program_show_renders_the_rules() -> None:
    result = smo("program", "show", "assist-america")
    assert result.exit_code == 0, result.output
    assert "pre_existing" in result.stdout and "permitted" in result.stdout


def test_program_show_unknown_program_is_bad_input() -> None:
    assert_bad_input(smo("program", "show", "aia-th"), "unknown program 'aia-th'")


def test_broken_program_file_is_reported_with_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    programs = tmp_path / "programs"
    programs.mkdir()
    (programs / "bad.yaml").write_text("name: bad\nsla: {working_days: 0}\n", encoding="utf-8")
    monkeypatch.setenv("SMO_PROGRAMS_DIR", str(programs))
    result = smo("program", "list")
    assert result.exit_code == 2
    assert all(line.startswith(f"error: {programs}/bad.yaml: ") for line in result.stderr.splitlines())
    assert "sla.working_days: Input should be greater than or equal to 1" in result.stderr


# ---- smo eligibility check -----------------------------------------------------------------


def test_eligible_dry_run_prints_json_and_exits_zero(temp_home: Path) -> None:
    result = check("--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"eligible": True, "reasons": []}
    assert DIAGNOSIS not in result.output
    # The dry run opened no case and stored no diagnosis.
    assert DIAGNOSIS.encode() not in (temp_home / "cases.db").read_bytes()


def test_refusal_lists_every_reason_and_exits_one() -> None:
    result = check(
        "--emergency", "--no-prior-diagnosis", "--exclusion", "pre_existing",
        "--exclusion", "private_flying", "--json", icd10="F32.9",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["eligible"] is False
    assert [r["code"] for r in data["reasons"]] == ["a", "d", "e.i", "e.vii", "e.xiii-b"]
    assert data["reasons"][0]["text"] == "Medical emergencies or urgent life-threatening situations"


def test_lapsed_policy_is_refused() -> None:
    result = check("--json", policy="KH-DEMO-0002")
    data = json.loads(result.stdout)
    assert [r["code"] for r in data["reasons"]] == ["policy_in_force"]
    assert "KH-DEMO-0002 is lapsed" in data["reasons"][0]["text"]


def test_human_output_names_the_reasons_but_not_the_diagnosis() -> None:
    result = check("--critical-care", "--common-issue")
    assert result.exit_code == 1
    assert "REFUSED" in result.stdout and "critical care" in result.stdout
    assert DIAGNOSIS not in result.output


def test_assist_america_flags() -> None:
    assert check("--not-complex", "--json", program="assist-america",
                 policy="AA-DEMO-0001").exit_code == 1  # fmt: skip
    ok = check("--exclusion", "pre_existing", "--json", program="assist-america",
               policy="AA-DEMO-0001")  # fmt: skip
    assert json.loads(ok.stdout) == {"eligible": True, "reasons": []}


@pytest.mark.parametrize(
    ("program", "policy", "icd10", "code"),
    [("prudential-kh", "KH-DEMO-0001", "R10.4", "d"), ("assist-america", "AA-DEMO-0001", "B35.3", "complex")],
    ids=["symptom-code", "minor-skin"],
)
def test_the_dry_run_refuses_from_the_code_alone(program: str, policy: str, icd10: str, code: str) -> None:
    result = check("--json", program=program, policy=policy, icd10=icd10)
    assert result.exit_code == 1, result.output
    assert [r["code"] for r in json.loads(result.stdout)["reasons"]] == [code]


def test_program_show_json_carries_the_words_to_the_member() -> None:
    data = json.loads(smo("program", "show", "prudential-kh", "--json").stdout)
    d = next(r for r in data["eligibility"]["rules"] if r["code"] == "d")
    assert d["member"]["next_step"] == "Ask your doctor for a diagnosis, then ask us again."
    assert d["member"]["source"] == "product"


def test_life_assured_ref_brings_in_case_history(temp_home: Path) -> None:
    who = hashlib.sha256(b"alice").hexdigest()
    check("--json")  # creates the schema
    from runtime.db import make_engine

    engine = make_engine(f"sqlite:///{temp_home / 'cases.db'}")
    with Session(engine) as session:
        session.add(
            CaseRow(
                case_id="CASE-1", program="prudential-kh", policy_number="KH-DEMO-0001",
                life_assured_ref=who, condition_key="C50", icd10="C50.1", stage="CLOSED",
            )
        )  # fmt: skip
        session.commit()
    engine.dispose()
    data = json.loads(check("--life-assured-ref", who, "--json").stdout)
    assert [r["code"] for r in data["reasons"]] == ["one_per_condition"]
    assert "CASE-1" in data["reasons"][0]["text"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"program": "aia-th"}, "unknown program 'aia-th'; known programs:"),
        ({"icd10": "breast cancer"}, "--icd10: must be an ICD-10 code (e.g. C50.912)"),
        ({"icd10": "U07.1"}, "--icd10: must be an ICD-10 code (e.g. C50.912)"),
        ({"policy": "X"}, "--policy: String should have at least 3 characters"),
    ],
    ids=["unknown-program", "malformed-icd10", "u-chapter", "short-policy"],
)
def test_bad_input_is_one_error_line_and_exit_two(args: dict[str, str], message: str) -> None:
    assert_bad_input(check("--json", **args), message)


def test_unknown_exclusion_alias_is_bad_input() -> None:
    # Pregnancy is not a rule of Assist America, so the alias is unknown there.
    result = check("--exclusion", "pregnancy", program="assist-america", policy="AA-DEMO-0001")
    assert_bad_input(result, "--exclusion: unknown alias 'pregnancy' for assist-america")


def test_malformed_life_assured_ref_is_bad_input() -> None:
    assert_bad_input(check("--life-assured-ref", "alice"), "--life-assured-ref: String should")
