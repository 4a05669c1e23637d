"""Fuzzing the `smo` command line: every invocation succeeds or says what is wrong, briefly.

Hypothesis builds argument lists for the coordinator's commands (bad case ids, dates,
ICD-10 codes, durations, slots, record types, programs, unknown options, missing or
repeated options, stray tokens) and runs them through Typer's CliRunner. Each run either
succeeds, or exits non-zero with a message and no traceback. Nothing reaches a real
service: SMO_HOME is a temporary directory and SMO_API_URL a closed port, and an
unreachable API must itself be one readable `error:` line with exit code 2. The run is
bounded by its number of examples, not by the clock.

`smo dev`, `demo`, `worker` and `web` start services and are never generated, and neither
are Typer's `--install-completion`/`--show-completion`, which would touch the shell setup.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from models.case import CASE_ID_PATTERN, ICD10_PATTERN, InfoReason, RecordType, Stage
from starter.cli import app
from tests.conftest import free_port

EXAMPLES = 500
NEVER_RUN = {"dev", "demo", "worker", "web"}
NEVER_PASS = {"--install-completion", "--show-completion"}

Argv = st.SearchStrategy[list[str]]


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh SMO_HOME and an API address where nothing listens; returns a real file."""
    monkeypatch.setenv("SMO_HOME", str(tmp_path / "smo"))
    monkeypatch.setenv("SMO_API_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("SMO_TOKEN", "smo_" + "f" * 43)
    monkeypatch.setenv("SMO_TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SMO_HOLIDAY_OVERRIDES", raising=False)
    monkeypatch.chdir(tmp_path)
    record = tmp_path / "record.txt"
    record.write_text("synthetic test record\n", encoding="utf-8")
    return record


# ---- strategies ------------------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)
LONG = st.sampled_from(["x" * 5_000, "é" * 600, "\u202e" * 100])
CASE_ID = st.one_of(
    st.from_regex(CASE_ID_PATTERN, fullmatch=True),
    st.sampled_from(["", "-", "..", "../etc/passwd", "ab", "x" * 70, "KH 1", "smo-KH-1", "ü" * 5, "KH-1;rm"]),
    TEXT,
)
DATE = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(["1990-02-30", "30/01/1990", "1990-1-1", "", "tomorrow", "99999-01-01", "0000-01-01"]),
    TEXT,
)
ICD10 = st.one_of(
    st.sampled_from(["C50.912", "I21.9", "c50.912", " C50.912 ", "Q21.0", "O80", "F32.9", "J10.1"]),
    st.from_regex(ICD10_PATTERN, fullmatch=True),
    st.sampled_from(["U07.1", "C50.91234", "C5", "50.9", "", "C50..9", "C50.9\n"]),
    TEXT,
)
DURATION = st.one_of(
    st.from_regex(r"\A[0-9]{1,4}[mhdwMHDW]\Z"),
    st.sampled_from(["2", "d", "2x", "-1d", "1.5d", "0d", "2 d", " 36h ", "1y", "²d", "١٢h", "99999999999d"]),
    TEXT,
)
SLOT = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),  # naive
    st.sampled_from(
        [
            "2026-12-14T09:00+07:00",
            "2026-12-14T09:00",
            "2026-12-14",
            "2026-12-14T09:00+25:00",
            "9999-12-31T23:59:59-14:00",
            "0001-01-01T00:00:00+14:00",
            "next monday",
            "",
        ]
    ),
    TEXT,
)
RECORD_TYPE = st.one_of(
    st.sampled_from([t.value for t in RecordType]),
    st.sampled_from([t.value.upper() for t in RecordType]),
    st.sampled_from(["x-ray", "", "smo report", "IMAGING "]),
    TEXT,
)
PROGRAM = st.one_of(
    st.sampled_from(["prudential-kh", "assist-america"]),
    st.sampled_from(["", "PRUDENTIAL-KH", "nope", "prudential_kh", "../programs/prudential-kh"]),
    TEXT,
)
POLICY = st.one_of(st.sampled_from(["KH-DEMO-0001", "KH-DEMO-0002", "AA-DEMO-0001", "", "KH"]), TEXT)
EMAIL = st.one_of(st.emails(), st.sampled_from(["", "not-an-email", "a@b", "@example.com"]), TEXT)
NAME = st.one_of(st.sampled_from(["Test Member", "A", ""]), TEXT, LONG)
REASON = st.one_of(st.sampled_from(["member withdrew", "", "ab", "   "]), TEXT, LONG)
SPECIALIST = st.one_of(st.sampled_from(["SP-ONC-001", "SP-ONC-004", "SP-NONE", ""]), TEXT, st.just("S" * 41))
NUMBER = st.one_of(
    st.integers(-5, 20_000).map(str), st.sampled_from(["", "x", "1.5", "1e3", "99999999999999999999"])
)
STAGE = st.one_of(
    st.sampled_from([s.value for s in Stage]), st.sampled_from([s.value.lower() for s in Stage]), TEXT
)
INFO_REASON = st.one_of(st.sampled_from([r.value for r in InfoReason]), TEXT)
LANGUAGE = st.one_of(st.sampled_from(["en", "km", "KM", "En", "fr", "km-KH", "Khmer", ""]), TEXT)
SEX = st.one_of(st.sampled_from(["female", "male", "FEMALE", "f", "other", ""]), TEXT)
UNKNOWN_OPTION = st.one_of(
    st.sampled_from(["--bogus", "-z", "--case", "--json=maybe", "--by", "--", "-", "--type"]),
    st.from_regex(r"\A--[a-z]{1,12}\Z"),
)


def words(*fixed: str) -> Argv:
    return st.just(list(fixed))


def arg(values: st.SearchStrategy[str]) -> Argv:
    return values.map(lambda v: [v])


def opt(flag: str, values: st.SearchStrategy[str], *, required: bool = False) -> Argv:
    """`--flag value`; optional ones are often left out, required ones sometimes."""
    given_ = values.map(lambda v: [flag, v])
    if required:
        return st.one_of(given_, given_, given_, given_, st.just([]))
    return st.one_of(given_, st.just([]))


def switch(flag: str) -> Argv:
    return st.sampled_from([[flag], []])


def command(*parts: Argv) -> Argv:
    return st.tuples(*parts).map(lambda ps: [a for p in ps for a in p])


def commands(record: str) -> Argv:
    files: Argv = st.one_of(
        st.just([record]),
        st.just([record, record]),
        st.just(["missing.pdf"]),
        st.just([]),
        TEXT.map(lambda t: [t]),
    )
    member = [
        opt("--patient", NAME, required=True),
        opt("--dob", DATE, required=True),
        opt("--email", EMAIL, required=True),
        opt("--icd10", ICD10, required=True),
        opt("--diagnosis", NAME, required=True),
        opt("--policy", POLICY, required=True),
    ]
    real = [
        command(words("case", "status"), arg(CASE_ID), switch("--json")),
        command(
            words("case", "list"),
            opt("--stage", STAGE),
            opt("--program", PROGRAM),
            switch("--overdue"),
            opt("--due-within", DURATION),
            opt("--limit", NUMBER),
        ),
        command(words("case", "list"), opt("--due-within", DURATION, required=True)),
        command(
            words("case", "open"),
            opt("--program", PROGRAM, required=True),
            *member,
            opt("--case-id", CASE_ID),
            opt("--exclusion", TEXT),
            opt("--follow-up-of", CASE_ID),
            opt("--override-reason", REASON),
            opt("--language", LANGUAGE),
            opt("--sex", SEX),
            switch("--emergency"),
        ),
        command(words("case", "cancel"), arg(CASE_ID), opt("--reason", REASON, required=True)),
        command(words("case", "close"), arg(CASE_ID)),
        command(words("case", "override"), arg(CASE_ID), opt("--reason", REASON, required=True)),
        command(words("case", "third-opinion"), arg(CASE_ID)),
        command(words("case", "update-details"), arg(CASE_ID), *member, opt("--language", LANGUAGE)),
        command(words("case", "language"), arg(CASE_ID), arg(LANGUAGE)),
        command(words("case", "audit"), arg(CASE_ID)),
        command(words("records", "add"), arg(CASE_ID), files, opt("--type", RECORD_TYPE, required=True)),
        command(
            words("records", "complete"), arg(CASE_ID), opt("--waive", RECORD_TYPE), opt("--reason", REASON)
        ),
        command(words("specialist", "assign"), arg(CASE_ID), arg(SPECIALIST)),
        command(
            words("specialist", "decline"),
            arg(CASE_ID),
            opt("--specialist", SPECIALIST, required=True),
            opt("--reason", REASON, required=True),
        ),
        command(words("specialist", "list"), opt("--specialty", TEXT)),
        command(
            words("report", "submit"), arg(CASE_ID), files, opt("--specialist", SPECIALIST, required=True)
        ),
        command(
            words("info", "request"),
            arg(CASE_ID),
            opt("--reason", INFO_REASON, required=True),
            opt("--type", RECORD_TYPE),
        ),
        command(words("info", "supply"), arg(CASE_ID), files, opt("--type", RECORD_TYPE)),
        command(words("consult", "book"), arg(CASE_ID), opt("--slot", SLOT, required=True)),
        command(words("consult", "complete"), arg(CASE_ID)),
        command(words("program", "show"), arg(PROGRAM), switch("--json")),
        command(
            words("eligibility", "check"),
            opt("--program", PROGRAM, required=True),
            opt("--policy", POLICY, required=True),
            opt("--icd10", ICD10, required=True),
            opt("--diagnosis", NAME, required=True),
            opt("--exclusion", TEXT),
            opt("--life-assured-ref", TEXT),
            switch("--json"),
        ),
        command(
            words("sla", "due"),
            opt("--received", SLOT, required=True),
            opt("--working-days", NUMBER, required=True),
            opt("--calendars", TEXT),
            opt("--tz", st.one_of(st.timezone_keys(), TEXT)),
            opt("--close-of-business", TEXT),
            opt("--already-elapsed", NUMBER),
            switch("--json"),
        ),
        command(words("calendar", "holidays"), opt("--year", NUMBER, required=True), opt("--calendar", TEXT)),
    ]
    stray = st.lists(st.one_of(TEXT, UNKNOWN_OPTION), min_size=1, max_size=4)
    return st.one_of(
        st.one_of(*real),
        st.one_of(*real),
        st.one_of(*real),
        st.tuples(st.one_of(*real), st.integers(0, 12), UNKNOWN_OPTION).map(  # an unknown option somewhere
            lambda t: [*t[0][: t[1]], t[2], *t[0][t[1] :]]
        ),
        st.tuples(st.one_of(*real), st.integers(0, 12)).map(  # a token lost
            lambda t: [a for i, a in enumerate(t[0]) if i != t[1]]
        ),
        stray,
    ).filter(lambda a: not (a and a[0] in NEVER_RUN) and not NEVER_PASS.intersection(a))


# ---- judging one run -------------------------------------------------------------------------


def problems_of(argv: list[str], result: Any) -> list[str]:
    """What is wrong with one run; nothing when it succeeded or failed with a clear message."""
    out: str = result.output
    found = []
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        found.append(f"uncaught {type(exc).__name__}: {exc}")
    if "Traceback" in out:
        found.append("a traceback in the output")
    if result.exit_code != 0 and not out.strip():
        found.append(f"exit code {result.exit_code} without a message")
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    if errors:
        others = [
            line for line in out.splitlines() if line.strip() and not line.startswith(("error:", "warning:"))
        ]
        if len(errors) > 1 or others:
            found.append(f"an error that is not one line: {out[-300:]!r}")
        if result.exit_code == 0:
            found.append("an error with exit code 0")
    if "reach" in out and "SMO API" in out and (result.exit_code != 2 or len(out.strip().splitlines()) != 1):
        found.append(f"an unreachable server is not one line with exit code 2: {out!r}")
    return found


def _stored(record: Path) -> set[Path]:
    """The encrypted documents under SMO_HOME (the fixture's file sits next to it)."""
    root = record.parent / "smo" / "storage"
    found = root.rglob("*") if root.exists() else iter(())
    return {p for p in found if p.is_file() and p.relative_to(root).parts[0] != "tmp"}


def outcome_of(result: Any) -> str:
    out = result.output.strip()
    if result.exit_code == 0:
        return "succeeded"
    if "SMO API" in out:
        return "refused: server unreachable"
    if out.startswith("error:"):
        return "refused: error line"
    if "Usage:" in out:
        return "refused: usage error"
    return f"exit {result.exit_code}"


# ---- the tests -------------------------------------------------------------------------------


def test_every_fuzzed_command_line_succeeds_or_fails_with_a_message_and_no_traceback(offline: Path) -> None:
    runner = CliRunner()
    findings: dict[str, list[str]] = {}
    outcomes: Counter[str] = Counter()
    started = time.monotonic()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # keep going: every kind of problem is reported
        suppress_health_check=list(HealthCheck),
    )
    @given(commands(str(offline)))
    def one_command(argv: list[str]) -> None:
        stored = _stored(offline)
        result = runner.invoke(app, argv)
        outcomes[outcome_of(result)] += 1
        problems = problems_of(argv, result)
        if result.exit_code != 0 and _stored(offline) != stored:
            problems.append(f"failed, yet left {len(_stored(offline) - stored)} document(s) in the store")
            for leftover in _stored(offline) - stored:
                leftover.unlink()
        shown = " ".join(repr(a) if not a or " " in a else a for a in argv)[:600]
        for problem in problems:
            findings.setdefault(f"{' '.join(argv[:2])}: {problem.split(':')[0]}", []).append(
                f"smo {shown}\n      -> {problem[:600]}"
            )

    one_command()
    total = sum(outcomes.values())
    print(f"\nCLI fuzzing: {total} command lines in {time.monotonic() - started:.1f}s")
    for key, count in sorted(outcomes.items()):
        print(f"  {count:4d}  {key}")
    report = "\n".join(f"- {sig} (x{len(d)})\n    e.g. {d[0]}" for sig, d in sorted(findings.items()))
    assert not findings, f"{len(findings)} kind(s) of problem:\n{report}"
    assert total >= EXAMPLES


UNREACHABLE = [
    ["case", "status", "KH-1"],
    ["case", "list"],
    ["case", "list", "--due-within", "2d", "--stage", "under_review"],
    ["case", "cancel", "KH-1", "--reason", "member withdrew"],
    ["case", "close", "KH-1"],
    ["case", "third-opinion", "KH-1"],
    ["records", "complete", "KH-1"],
    ["specialist", "assign", "KH-1", "SP-ONC-001"],
    ["info", "request", "KH-1", "--reason", "clarification"],
    ["consult", "book", "KH-1", "--slot", "2030-12-14T09:00+07:00"],
    ["consult", "complete", "KH-1"],
    [
        "case",
        "open",
        "--program",
        "prudential-kh",
        "--policy",
        "KH-DEMO-0001",
        "--patient",
        "Test Member",
        "--dob",
        "1980-01-01",
        "--email",
        "member@example.com",
        "--icd10",
        "C50.912",
        "--diagnosis",
        "synthetic",
    ],
]


@pytest.mark.parametrize("argv", UNREACHABLE, ids=lambda a: " ".join(a[:2]))
def test_an_unreachable_server_is_one_readable_line_with_exit_code_2(offline: Path, argv: list[str]) -> None:
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("duration", ["99999999999d", "9999999999999w"])
def test_fixed_a_due_within_too_long_for_the_calendar_is_one_error_line(offline: Path, duration: str) -> None:
    result = CliRunner().invoke(app, ["case", "list", "--due-within", duration])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2 and result.output.startswith("error: "), result.output


MEMBER = [
    "--patient",
    "Test Member",
    "--dob",
    "1980-01-01",
    "--email",
    "member@example.com",
    "--diagnosis",
    "synthetic",
    "--policy",
    "KH-DEMO-0001",
]


@pytest.mark.parametrize(
    "argv",
    [["case", "open", "--program", "prudential-kh", *MEMBER], ["case", "update-details", "KH-1", *MEMBER]],
    ids=["case open", "case update-details"],
)
def test_fixed_a_bad_icd10_code_is_refused_before_anything_is_stored_or_sent(
    offline: Path, argv: list[str]
) -> None:
    result = CliRunner().invoke(app, [*argv, "--icd10", "ZZZ.9"])
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.output.startswith("error: ") and "icd" in result.output.lower(), result.output
    assert not _stored(offline), "the member's details were stored although the command failed"


def test_fixed_update_details_leaves_no_member_details_behind_when_the_update_fails(offline: Path) -> None:
    result = CliRunner().invoke(app, ["case", "update-details", "KH-1", *MEMBER, "--icd10", "C50.912"])
    assert result.exit_code == 2, (result.output, result.exception)
    assert not _stored(offline), "the member's details (PHI) stayed in the store after a failed update"
