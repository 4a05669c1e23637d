"""The monthly SLA report, counted from the rounds the cases recorded (`record_sla_round`), on
SQLite and PostgreSQL: exact figures for a table of November 2026 rounds, the exports, the
open rounds past due from a running case, and `record_sla_round`'s idempotency."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import os
import sys
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from typer.testing import CliRunner

from activities.cases import CaseActivities
from activities.roster import SpecialtyMap
from calendars import CalendarService, next_close_of_business
from models import search
from models.db import SlaRound
from models.program import load_programs
from models.report import SlaReport, SlaReportRequest
from models.settings import PROJECT_ROOT, Settings
from models.sla import RoundOutcome, SlaRoundRecord
from reports.sla import SlaReportBuilder
from reports.source import ended_rounds, open_past_due, visibility_query
from runtime.db import seed
from runtime.temporal import binary, converter_for
from starter.report_cli import report_sla_app
from tests import scenario
from tests.conftest import free_port
from worker import Services, build_worker

ICT = dt.timezone(dt.timedelta(hours=7))
PROGRAMS = load_programs(PROJECT_ROOT / "programs")
TERMS = {name: p.terms() for name, p in PROGRAMS.items()}
KH_US = ["KH", "US"]


def at(day: str, hhmm: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=ICT)


def rnd(
    case_id: str, program: str, specialist: str, received: dt.datetime, ended: dt.datetime,
    outcome: RoundOutcome, *, n: int = 1, breached: bool = False, paused: int = 0,
) -> SlaRoundRecord:  # fmt: skip
    return SlaRoundRecord(
        case_id=case_id, program=program, assignment_no=n, specialist_id=specialist,
        working_days=TERMS[program].sla_working_days, calendars=KH_US, received_at=received,
        due_at=None, ended_at=ended, outcome=outcome, breached=breached, paused_working_days=paused,
    )  # fmt: skip


MET, LATE, REASSIGNED = RoundOutcome.MET, RoundOutcome.LATE, RoundOutcome.REASSIGNED
PRU, AA = "prudential-kh", "assist-america"

# November 2026 on the KH and US calendars: 9 Nov (Independence Day), 11 Nov (Veterans Day),
# 23-25 Nov (Water Festival) and 26 Nov (Thanksgiving) are no working days.
# (round, expected turnaround in working days)
NOVEMBER: list[tuple[SlaRoundRecord, int | None]] = [
    # Day 0 is Mon 2 Nov; the 10th working day after it is Wed 18 Nov; in at 16:00: on time.
    (rnd("PRU-1", PRU, "SP-ONC-001", at("2026-11-02", "09:00"), at("2026-11-18", "16:00"), MET), 10),
    # Received after close of business: day 0 is Tue 3 Nov; in on Fri 20 Nov, the 11th day.
    (rnd("PRU-2", PRU, "SP-ONC-002", at("2026-11-02", "18:00"), at("2026-11-20", "10:00"), LATE,
         breached=True), 11),
    # 11 working days from Thu 5 Nov to Mon 30 Nov (over the Water Festival), 2 of them stopped.
    (rnd("PRU-3", PRU, "SP-ONC-001", at("2026-11-05", "10:00"), at("2026-11-30", "12:00"), MET,
         paused=2), 9),
    # Five-day SLA; in at 17:30 on Fri 27 Nov, after close: counts as Mon 30 Nov, the 6th day.
    (rnd("AA-1", AA, "SP-HEM-001", at("2026-11-16", "08:00"), at("2026-11-27", "17:30"), LATE,
         breached=True), 6),
    # In on a Saturday: counts as Monday 16 Nov, the 4th working day after Fri 6 Nov.
    (rnd("AA-2", AA, "SP-HEM-001", at("2026-11-06", "12:00"), at("2026-11-14", "09:00"), MET), 4),
    # A decline: the round ended without a report (held 8 working days, the 24th being the Water
    # Festival counts as Fri 27 Nov); counted as a round, not a report.
    (rnd("PRU-4", PRU, "SP-ONC-002", at("2026-11-10", "09:00"), at("2026-11-24", "11:00"), REASSIGNED),
     None),
    # Sun 1 Nov 00:30 in Phnom Penh is still 31 October in UTC: a November round.
    (rnd("PRU-6", PRU, "SP-ONC-001", at("2026-10-20", "09:00"), at("2026-11-01", "00:30"), MET), 8),
    # Tue 1 Dec 00:30 in Phnom Penh is 30 November in UTC: a December round.
    (rnd("PRU-5", PRU, "SP-CAR-001", at("2026-11-16", "09:00"), at("2026-12-01", "00:30"), MET), None),
    # Ended on 30 October: not in November.
    (rnd("PRU-7", PRU, "SP-CAR-001", at("2026-10-16", "09:00"), at("2026-10-30", "15:00"), MET), None),
]  # fmt: skip
AS_OF = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def case_activities(engine: Engine) -> CaseActivities:
    return CaseActivities(engine, PROGRAMS, SpecialtyMap.load(PROJECT_ROOT / "data" / "specialties.yaml"))


async def record_all(engine: Engine, records: list[SlaRoundRecord]) -> None:
    activities, env = case_activities(engine), ActivityEnvironment()
    for rec in records:
        await env.run(activities.record_sla_round, rec)


def builder() -> SlaReportBuilder:
    return SlaReportBuilder(CalendarService(None), TERMS)


async def november(engine: Engine, program: str | None = None) -> SlaReport:
    await record_all(engine, [r for r, _ in NOVEMBER])
    request = SlaReportRequest(month="2026-11", program=program, as_of=AS_OF)
    return builder().build(request, ended_rounds(engine, request))


async def test_each_november_round_has_its_turnaround_in_working_days_less_stopped_days(
    db_engine: Engine,
) -> None:
    report = await november(db_engine)
    got = {f.case_id: f.turnaround_working_days for f in report.round_figures}
    expected = {r.case_id: days for r, days in NOVEMBER if days is not None}
    assert {c: d for c, d in got.items() if c in expected} == expected
    assert set(got) == set(expected) | {"PRU-4"}  # the December and October rounds are out


async def test_november_on_time_rate_median_and_p90_are_counted_from_the_recorded_rounds(
    db_engine: Engine,
) -> None:
    report = await november(db_engine)
    assert (report.rounds, report.reports, report.on_time, report.late) == (7, 6, 4, 2)
    assert report.on_time_rate == pytest.approx(4 / 6)
    # Turnarounds 4, 6, 8, 9, 10, 11: the median between 8 and 9; p90 the 6th of 6 (nearest rank).
    assert report.median_turnaround_working_days == 8.5
    assert report.p90_turnaround_working_days == 11


async def test_november_breaches_by_specialist_and_by_program_put_the_worst_first(
    db_engine: Engine,
) -> None:
    report = await november(db_engine)
    by_specialist = [(c.key, c.rounds, c.reports, c.late, c.breaches) for c in report.by_specialist]
    assert by_specialist == [
        ("SP-HEM-001", 2, 2, 1, 1),
        ("SP-ONC-002", 2, 1, 1, 1),
        ("SP-ONC-001", 3, 3, 0, 0),
    ]
    by_program = [(c.key, c.rounds, c.reports, c.late, c.breaches) for c in report.by_program]
    assert by_program == [(AA, 2, 2, 1, 1), (PRU, 5, 4, 1, 1)]


async def test_november_on_time_by_week_counts_each_report_in_the_week_it_arrived(
    db_engine: Engine,
) -> None:
    report = await november(db_engine)
    weeks = [(w.week.isoformat(), w.on_time, w.late) for w in report.by_week]
    assert weeks == [
        ("2026-10-26", 1, 0),  # PRU-6, Sunday 1 November
        ("2026-11-09", 1, 0),  # AA-2
        ("2026-11-16", 1, 1),  # PRU-1 on time, PRU-2 late
        ("2026-11-23", 0, 1),  # AA-1
        ("2026-11-30", 1, 0),  # PRU-3
    ]


async def test_one_program_only_counts_its_own_rounds(db_engine: Engine) -> None:
    report = await november(db_engine, PRU)
    assert (report.rounds, report.reports, report.on_time, report.late) == (5, 4, 3, 1)
    assert report.median_turnaround_working_days == 9.5  # 8, 9, 10, 11
    assert report.p90_turnaround_working_days == 11
    assert [c.key for c in report.by_program] == [PRU]


async def test_a_month_without_rounds_reports_nothing_rather_than_dividing_by_zero(db_engine: Engine) -> None:
    request = SlaReportRequest(month="2027-02", as_of=AS_OF)
    report = builder().build(request, ended_rounds(db_engine, request))
    assert (report.rounds, report.on_time_rate, report.median_turnaround_working_days) == (0, None, None)


# ---- record_sla_round is idempotent ------------------------------------------------------


def rounds_of(engine: Engine, case_id: str) -> list[SlaRound]:
    with Session(engine) as session:
        return list(session.exec(select(SlaRound).where(SlaRound.case_id == case_id)))


async def test_a_retried_record_sla_round_writes_the_round_once(db_engine: Engine) -> None:
    rec = NOVEMBER[0][0]
    await record_all(db_engine, [rec, rec, rec])
    rows = rounds_of(db_engine, rec.case_id)
    assert [(r.assignment_no, r.outcome, r.ended_at) for r in rows] == [(1, "met", rec.ended_at)]


async def test_concurrent_attempts_of_record_sla_round_all_succeed_and_write_one_row(
    db_engine: Engine,
) -> None:
    rec = NOVEMBER[1][0]
    activities = case_activities(db_engine)
    await asyncio.gather(*(ActivityEnvironment().run(activities.record_sla_round, rec) for _ in range(8)))
    assert len(rounds_of(db_engine, rec.case_id)) == 1


async def test_the_first_write_of_a_round_wins_and_the_next_round_is_its_own_row(db_engine: Engine) -> None:
    first = NOVEMBER[5][0]
    rewritten = first.model_copy(update={"outcome": RoundOutcome.MET})
    second = first.model_copy(update={"assignment_no": 2, "specialist_id": "SP-ONC-001"})
    await record_all(db_engine, [first, rewritten, second])
    rows = sorted(rounds_of(db_engine, first.case_id), key=lambda r: r.assignment_no)
    assert [(r.assignment_no, r.specialist_id, r.outcome) for r in rows] == [
        (1, "SP-ONC-002", "reassigned"),
        (2, "SP-ONC-001", "reassigned"),
    ]


# ---- the command line -------------------------------------------------------------------


def no_decrees(tmp_path: Path) -> Path:
    """A holiday-decree file with none in it: the figures are the built-in calendars'."""
    overrides = tmp_path / "no-decrees.yaml"
    overrides.write_text("{}\n")
    return overrides


@pytest.fixture
def report_env(db_url: str, db_engine: Engine, smo_home: Path, tmp_path: Path) -> dict[str, str]:
    """The CLI's environment: the case DB with November's rounds and the roster, no decrees."""
    overrides = no_decrees(tmp_path)
    settings = Settings(database_url=db_url, holiday_overrides=overrides)
    seed(db_engine, settings)
    asyncio.run(record_all(db_engine, [r for r, _ in NOVEMBER]))
    return {"DATABASE_URL": db_url, "SMO_HOLIDAY_OVERRIDES": str(overrides), "COLUMNS": "160"}


def invoke(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(report_sla_app, ["sla", *args], env=env)
    return result.exit_code, result.output


def test_smo_report_sla_prints_the_figures_and_who_breached(report_env: dict[str, str]) -> None:
    code, out = invoke(report_env, "--month", "2026-11", "--no-open", "--as-of", AS_OF.isoformat())
    assert code == 0, out
    assert "reports 6 · on time 4 (66.7%) · late 2 · median 8.5 · p90 11 working days" in out
    assert "rounds ended without a report (reassigned or cancelled): 1" in out
    assert "SP-HEM-001 (Dr. Nora Feld)" in out
    assert "open past due: not listed (--no-open)" in out


def test_smo_report_sla_json_csv_and_chart_carry_the_same_figures(
    report_env: dict[str, str], tmp_path: Path
) -> None:
    chart, table = tmp_path / "out" / "sla.png", tmp_path / "out" / "sla.csv"
    code, out = invoke(
        report_env, "--month", "2026-11", "--program", PRU, "--json", "--no-open",
        "--chart", str(chart), "--csv", str(table),
    )  # fmt: skip
    assert code == 0, out
    data = json.loads(out)
    assert (data["reports"], data["on_time"], data["median_turnaround_working_days"]) == (4, 3, 9.5)
    with table.open(newline="") as handle:
        lines = list(csv.DictReader(handle))
    assert [(r["case_id"], r["outcome"], r["turnaround_working_days"]) for r in lines] == [
        ("PRU-6", "met", "8"), ("PRU-1", "met", "10"), ("PRU-2", "late", "11"),
        ("PRU-4", "reassigned", "8"), ("PRU-3", "met", "9"),
    ]  # fmt: skip
    with Image.open(chart) as png:
        assert png.format == "PNG" and png.size == (1210, 880)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2026-13"], "error: month must look like 2026-11, got '2026-13'"),
        (["--month", "Nov"], "error: month must look like 2026-11, got 'Nov'"),
        (["--month", "2026-11", "--program", "x' OR SmoProgram != '"], "error: unknown program"),
        (["--month", "2026-11", "--as-of", "2026-12-01T10:00"], "error: --as-of needs a UTC offset"),
        (["--month", "2026-11", "--as-of", "yesterday"], "error: --as-of must be an ISO date-time"),
        (["--month", "2026-11", "--chart", "."], "error: . is a directory; give a file name"),
    ],
)
def test_smo_report_sla_refuses_bad_input_with_one_clear_line(
    smo_home: Path, args: list[str], message: str
) -> None:
    code, out = invoke({}, *args, "--no-open")
    assert code == 2
    assert out.startswith(message) and out.count("\n") == 1


def test_smo_report_sla_on_a_database_behind_head_says_to_upgrade(smo_home: Path, tmp_path: Path) -> None:
    empty = {"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    code, out = invoke(empty, "--month", "2026-11", "--no-open")
    assert code == 1
    assert "run `smo db upgrade`" in out


def test_smo_report_sla_without_temporal_says_so_and_how_to_do_without(report_env: dict[str, str]) -> None:
    env = report_env | {"SMO_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}
    code, out = invoke(env, "--month", "2026-11")
    assert code == 1
    assert out.startswith("error: cannot connect to Temporal at 127.0.0.1:") and "--no-open" in out


def test_the_visibility_query_never_quotes_an_unchecked_program() -> None:
    request = SlaReportRequest(month="2026-11", program="a' OR 'x'='x", as_of=AS_OF)
    with pytest.raises(ValueError, match="not a program name"):
        visibility_query(request)
    assert "SmoSlaDeadline < '2026-12-01T12:00:00Z'" in visibility_query(request.model_copy(update={
        "program": None
    }))  # fmt: skip


# ---- open past due, from a running case ------------------------------------------------


async def test_a_running_case_past_its_deadline_is_listed_open_past_due_with_its_specialist(
    services: Services, tmp_path: Path
) -> None:
    port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        search_attributes=search.ALL_KEYS,
        data_converter=converter_for(services.settings),
        port=port,
        ui=False,
    )
    async with env, build_worker(env.client, services):
        handle = await scenario.start(env.client, services.settings, scenario.case_input(services, "LATE-1"))
        review = await scenario.to_review(None, handle, services, PRU)
        due = review.sla.due_at
        assert due is not None and review.specialist_id
        reports = builder()

        async def listed(as_of: dt.datetime) -> list[tuple[str, str, int, dt.datetime, int]]:
            request = SlaReportRequest(month="2026-11", as_of=as_of)
            found = await open_past_due(env.client, services.engine, reports, request)
            return [
                (o.case_id, o.specialist_id, o.assignment_no, o.due_at, o.working_days_overdue) for o in found
            ]

        # Visibility is eventually consistent: wait (boundedly) for the case's deadline to show.
        for _ in range(300):
            if (await handle.describe()).typed_search_attributes.get(search.SLA_DEADLINE) == due:
                break
            await asyncio.sleep(0.1)
        # Three working days' close of business after the deadline.
        as_of = due
        for _ in range(3):
            as_of = next_close_of_business(as_of, reports.calendars.calendars(KH_US))
        for _ in range(300):
            if await listed(as_of + dt.timedelta(minutes=1)):
                break
            await asyncio.sleep(0.1)
        assert await listed(as_of + dt.timedelta(minutes=1)) == [
            ("LATE-1", review.specialist_id, 1, due, 3)
        ]
        assert await listed(due - dt.timedelta(minutes=1)) == []

        # The same through the command line, as the operations team runs it.
        cli_env = {k: v for k, v in os.environ.items()} | {
            "SMO_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
            "SMO_HOLIDAY_OVERRIDES": str(no_decrees(tmp_path)),
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "starter.report_cli", "sla", "--month", "2026-11", "--json",
            "--as-of", (as_of + dt.timedelta(minutes=1)).isoformat(),
            cwd=PROJECT_ROOT, env=cli_env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, err.decode()
        late = json.loads(out)["open_past_due"]
        assert [(o["case_id"], o["specialist_id"], o["working_days_overdue"]) for o in late] == [
            ("LATE-1", review.specialist_id, 3)
        ]
        await handle.terminate("test over")
