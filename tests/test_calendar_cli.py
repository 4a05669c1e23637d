"""`smo sla due` and `smo calendar holidays`, driven through Typer's test runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from starter.calendar_cli import calendar_app, sla_app

app = typer.Typer(pretty_exceptions_enable=False)
app.add_typer(sla_app, name="sla")
app.add_typer(calendar_app, name="calendar")


def smo(*args: str, env: dict[str, str | None] | None = None) -> Result:
    # No overrides file unless a test sets one, whatever the caller's shell has.
    return CliRunner().invoke(app, list(args), env={"SMO_HOLIDAY_OVERRIDES": None, **(env or {})})


def test_due_json_has_the_deadline_day_zero_and_skipped_holidays() -> None:
    result = smo("sla", "due", "--received", "2026-11-20T10:00+07:00", "--working-days", "10", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "due": "2026-12-10T17:00:00+07:00",
        "day0": "2026-11-20",
        "skipped": [
            {"date": "2026-11-23", "calendar": "KH", "name": "Water Festival"},
            {"date": "2026-11-24", "calendar": "KH", "name": "Water Festival"},
            {"date": "2026-11-25", "calendar": "KH", "name": "Water Festival"},
            {"date": "2026-11-26", "calendar": "US", "name": "Thanksgiving Day"},
        ],
        "paused_working_days": 0,
        "provisional": False,
        "provisional_years": [],
    }


def test_due_for_a_receipt_stamped_in_chicago() -> None:
    result = smo("sla", "due", "--received", "2026-11-19T22:30-06:00", "--working-days", "10", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["due"] == "2026-12-10T17:00:00+07:00"


def test_due_table_names_the_deadline_and_the_skipped_holidays() -> None:
    result = smo("sla", "due", "--received", "2026-11-20T10:00+07:00", "--working-days", "10")

    assert result.exit_code == 0, result.output
    # Times as the desk reads every time: its own zone, named (starter.cli_common.at_desk).
    assert "Report due: Thu 2026-12-10 17:00 ICT" in result.stdout
    assert "Water Festival" in result.stdout and "Thanksgiving Day" in result.stdout
    assert "Escalation warning: Tue 2026-12-08 17:00 ICT" in result.stdout
    assert "Received Fri 2026-11-20 10:00 ICT" in result.stdout and "+07:00" not in result.stdout


def test_due_with_a_state_calendar_and_other_options() -> None:
    result = smo(
        "sla",
        "due",
        "--received",
        "2026-02-27T10:00+07:00",
        "--working-days",
        "1",
        "--calendars",
        "KH, us-tx",
        "--tz",
        "Asia/Phnom_Penh",
        "--json",
    )

    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["due"] == "2026-03-03T17:00:00+07:00"
    assert payload["skipped"] == [
        {"date": "2026-03-02", "calendar": "US-TX", "name": "Texas Independence Day"}
    ]


def test_overrides_file_from_the_environment_is_applied(tmp_path: Path) -> None:
    path = tmp_path / "decrees.yaml"
    path.write_text("KH:\n  add:\n    - {date: 2026-12-08, name: Special holiday by sub-decree}\n")

    result = smo(
        "sla",
        "due",
        "--received",
        "2026-11-20T10:00+07:00",
        "--working-days",
        "10",
        "--json",
        env={"SMO_HOLIDAY_OVERRIDES": str(path)},
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["due"] == "2026-12-11T17:00:00+07:00"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--received", "2026-11-20T10:00", "--working-days", "10"], "has no UTC offset"),
        (["--received", "20/11/2026 10am", "--working-days", "10"], "is not an ISO 8601 date-time"),
        (
            ["--received", "2026-11-20T10:00+07:00", "--working-days", "0"],
            "--working-days must be at least 1",
        ),
        (
            ["--received", "2026-11-20T10:00+07:00", "--working-days", "10", "--calendars", "KH,TH"],
            "unknown calendar code 'TH'",
        ),
        (
            ["--received", "2026-11-20T10:00+07:00", "--working-days", "10", "--tz", "Asia/Nowhere"],
            "time zone",
        ),
    ],
    ids=["naive", "unparseable", "zero-days", "unknown-calendar", "unknown-tz"],
)
def test_bad_input_is_one_error_line_and_exit_code_2(args: list[str], message: str) -> None:
    result = smo("sla", "due", *args, "--json")

    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.output


def test_malformed_overrides_file_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "decrees.yaml"
    path.write_text("KH: [unclosed\n")

    result = smo(
        "sla", "due", "--received", "2026-11-20T10:00+07:00", "--working-days", "10", "--overrides", str(path)
    )

    assert result.exit_code == 2
    assert result.stderr.startswith("error: holiday overrides file") and "decrees.yaml" in result.stderr


def test_calendar_holidays_json_lists_the_khmer_holidays_of_2027() -> None:
    result = smo("calendar", "holidays", "--year", "2027", "--calendar", "KH", "--json")

    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["calendar"] == "KH" and payload["year"] == 2027
    pchum_ben = [h["date"] for h in payload["holidays"] if h["name"] == "Pchum Ben Day"]
    assert pchum_ben == ["2027-09-29", "2027-09-30", "2027-10-01"]


def test_calendar_holidays_table_for_the_us_shows_observed_days() -> None:
    result = smo("calendar", "holidays", "--year", "2027", "--calendar", "US")

    assert result.exit_code == 0, result.output
    assert "2027-12-24" in result.stdout and "Christmas Day (Observed)" in result.stdout


def test_calendar_holidays_with_an_unknown_code_is_exit_code_2() -> None:
    result = smo("calendar", "holidays", "--year", "2027", "--calendar", "XX")

    assert result.exit_code == 2
    assert result.stderr.startswith("error: unknown calendar code 'XX'")


def test_missing_overrides_file_is_a_warning_and_changes_nothing(tmp_path: Path) -> None:
    result = smo(
        "sla",
        "due",
        "--received",
        "2026-11-20T10:00+07:00",
        "--working-days",
        "10",
        "--json",
        env={"SMO_HOLIDAY_OVERRIDES": str(tmp_path / "absent.yaml")},
    )

    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("warning: overrides file") and "absent.yaml" in result.stderr
    assert json.loads(result.stdout)["due"] == "2026-12-10T17:00:00+07:00"


# ---- provisional years ---------------------------------------------------------------------


def holidays_json(year: str, code: str = "KH", *extra: str, env: dict[str, str | None] | None = None) -> Any:
    result = smo("calendar", "holidays", "--year", year, "--calendar", code, "--json", *extra, env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_projected_2027_khmer_year_is_provisional_and_the_decreed_2026_is_not() -> None:
    assert holidays_json("2027")["provisional"] is True
    assert holidays_json("2026")["provisional"] is False
    assert holidays_json("2025")["provisional"] is False


def test_us_years_are_fixed_by_statute_and_never_provisional() -> None:
    assert holidays_json("2027", "US")["provisional"] is False
    assert holidays_json("2030", "US-TX")["provisional"] is False


def test_the_holidays_table_marks_a_provisional_year() -> None:
    projected = smo("calendar", "holidays", "--year", "2027", "--calendar", "KH")
    decreed = smo("calendar", "holidays", "--year", "2026", "--calendar", "KH")
    assert "PROVISIONAL" in projected.stdout and "not yet decreed" in projected.stdout
    assert "PROVISIONAL" not in decreed.stdout


def test_an_overrides_file_declaring_2027_decreed_makes_it_final(tmp_path: Path) -> None:
    path = tmp_path / "decrees.yaml"
    path.write_text(
        "KH:\n  decree: Sub-decree on the public holidays of 2027\n  decreed: [2027]\n"
        "  add:\n    - {date: 2027-12-31, name: Special holiday by sub-decree}\n"
    )
    payload = holidays_json("2027", env={"SMO_HOLIDAY_OVERRIDES": str(path)})
    assert payload["provisional"] is False
    assert {"date": "2027-12-31", "name": "Special holiday by sub-decree"} in payload["holidays"]
    assert holidays_json("2028", env={"SMO_HOLIDAY_OVERRIDES": str(path)})["provisional"] is True


def test_a_deadline_whose_window_reaches_into_2027_says_provisional() -> None:
    result = smo("sla", "due", "--received", "2026-12-24T10:00+07:00", "--working-days", "10", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["provisional"] is True and payload["provisional_years"] == [2027]
    table = smo("sla", "due", "--received", "2026-12-24T10:00+07:00", "--working-days", "10")
    assert "Provisional" in table.stdout and "2027" in table.stdout


# ---- stop-the-clock from the command line -------------------------------------------------


def test_due_with_a_pause_counts_the_clocks_whole_record() -> None:
    result = smo(
        "sla", "due", "--received", "2026-03-02T10:00+07:00", "--working-days", "10", "--json",
        "--pause", "2026-03-04T12:00+07:00/2026-03-05T09:00+07:00",
        "--pause", "2026-03-06T15:00+07:00/2026-03-08T12:00+07:00",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["due"] == "2026-03-18T17:00:00+07:00" and payload["paused_working_days"] == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--pause", "2026-03-04T12:00+07:00"], "needs START/END"),
        (["--pause", "2026-03-04T12:00+07:00/"], "needs START/END"),
        (
            ["--pause", "2026-03-04T12:00/2026-03-05T09:00+07:00"],
            "--pause '2026-03-04T12:00' has no UTC offset",
        ),
        (["--pause", "yesterday/today"], "is not an ISO 8601 date-time"),
        (["--pause", "2026-03-05T09:00+07:00/2026-03-04T12:00+07:00"], "before it starts"),
        (["--pause", "2026-02-01T09:00+07:00/2026-02-02T12:00+07:00"], "before the records were received"),
        (
            ["--pause", "2026-03-04T12:00+07:00/2026-03-05T09:00+07:00", "--already-elapsed", "2"],
            "drop --already-elapsed",
        ),
    ],
    ids=["no-end", "empty-end", "naive", "unparseable", "backwards", "before-receipt", "with-elapsed"],
)
def test_a_bad_pause_is_one_error_line_and_exit_code_2(extra: list[str], message: str) -> None:
    result = smo("sla", "due", "--received", "2026-03-02T10:00+07:00", "--working-days", "10", *extra)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


# ---- smo calendar apply ----------------------------------------------------------------------

DECREE_2026 = "KH:\n  decree: Sub-decree 100\n  add:\n    - {date: 2026-12-08, name: Special holiday}\n"


def apply(*args: str, target: Path) -> Result:
    return smo("calendar", "apply", *args, env={"SMO_HOLIDAY_OVERRIDES": str(target)})


def test_apply_installs_the_file_and_says_which_days_it_changes(tmp_path: Path) -> None:
    target, new = tmp_path / "service" / "holiday-overrides.yaml", tmp_path / "decree.yaml"
    new.write_text(DECREE_2026)
    result = apply(str(new), "--json", target=target)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "target": str(target), "installed": True, "decree": "Sub-decree 100",
        "added": ["2026-12-08"], "removed": [], "decreed_years": [],
    }  # fmt: skip
    assert target.read_text() == DECREE_2026
    assert [p.name for p in target.parent.iterdir()] == ["holiday-overrides.yaml"]  # no temp file left

    new.write_text("KH:\n  decreed: [2027]\n")
    table = apply(str(new), target=target)
    assert table.exit_code == 0, table.output
    assert "makes working days of 2026-12-08" in table.stdout and "declares decreed 2027" in table.stdout
    assert "within a minute" in table.stdout


def test_apply_dry_run_installs_nothing(tmp_path: Path) -> None:
    target, new = tmp_path / "holiday-overrides.yaml", tmp_path / "decree.yaml"
    target.write_text("KH: {add: []}\n")
    new.write_text(DECREE_2026)
    result = apply(str(new), "--dry-run", target=target)
    assert result.exit_code == 0, result.output
    assert "would replace" in result.stdout and "makes holidays of 2026-12-08" in result.stdout
    assert target.read_text() == "KH: {add: []}\n"


def test_apply_of_the_file_in_force_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "holiday-overrides.yaml"
    target.write_text(DECREE_2026)
    result = apply(str(target), target=target)
    assert result.exit_code == 0 and "already" in result.stdout
    assert target.read_text() == DECREE_2026


def test_apply_replaces_a_broken_file_in_force(tmp_path: Path) -> None:
    target, new = tmp_path / "holiday-overrides.yaml", tmp_path / "decree.yaml"
    target.write_text("KH: [unclosed\n")
    new.write_text(DECREE_2026)
    result = apply(str(new), target=target)
    assert result.exit_code == 0, result.output
    assert target.read_text() == DECREE_2026


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("KH: [unclosed\n", "invalid YAML"),
        ("KHM:\n  add: []\n", "unknown calendar code 'KHM'"),
        ("KH:\n  add:\n    - {date: 2026-02-30, name: x}\n", "day is out of range"),
        ("KH:\n  decreed: [2027, next]\n", "KH.decreed.1"),
        (None, "is not a file"),
    ],
    ids=["yaml", "calendar", "date", "year", "missing"],
)
def test_apply_of_a_bad_file_is_one_error_line_and_leaves_the_service_file_alone(
    tmp_path: Path, content: str | None, message: str
) -> None:
    target, new = tmp_path / "holiday-overrides.yaml", tmp_path / "decree.yaml"
    target.write_text(DECREE_2026)
    if content is not None:
        new.write_text(content)
    result = apply(str(new), target=target)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert target.read_text() == DECREE_2026
