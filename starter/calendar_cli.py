"""`smo sla ...` and `smo calendar ...`: deadlines and holiday tables from the command line.

These commands need no running service: they evaluate the same SLA rule the
worker uses, against the same calendars and the same holiday-decree file
(``--overrides``, default ``$SMO_HOLIDAY_OVERRIDES``), so a coordinator can
answer "when is this report due, and why then?" directly.

``smo calendar apply FILE`` installs a decree file in place of the service's
overrides file (validated first, replaced atomically); the calendar watch then
carries it to every running case it can move.

A user mistake prints one ``error: ...`` line on stderr and exits with code 2.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from calendars import (
    DEFAULT_CALENDARS,
    DEFAULT_TZ,
    CalendarSet,
    HolidayOverrides,
    SlaDue,
    StopInterval,
    compute_due,
    load_overrides,
)
from calendars.changes import OverridesDiff, diff_overrides
from models.settings import Settings
from starter.cli_common import DESK_ZONE, at_desk, fail

__all__ = ["calendar_app", "sla_app"]

OVERRIDES_ENV = "SMO_HOLIDAY_OVERRIDES"

sla_app = typer.Typer(help="Report deadlines under the working-day SLA.", no_args_is_help=True)
calendar_app = typer.Typer(help="Public-holiday calendars used by the SLA.", no_args_is_help=True)

OverridesOpt = Annotated[
    Path | None,
    typer.Option(
        "--overrides",
        envvar=OVERRIDES_ENV,
        help=f"Holiday-decree YAML file (default: ${OVERRIDES_ENV}; none if unset).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]


def _parse_instant(option: str, value: str) -> dt.datetime:
    try:
        instant = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        fail(f"{option} {value!r} is not an ISO 8601 date-time (e.g. 2026-11-20T10:00+07:00)")
    if instant.tzinfo is None or instant.utcoffset() is None:
        fail(f"{option} {value!r} has no UTC offset; add one, e.g. {instant.isoformat()}+07:00")
    return instant


def _parse_received(value: str) -> dt.datetime:
    return _parse_instant("--received", value)


def _parse_time(value: str) -> dt.time:
    try:
        parsed = dt.time.fromisoformat(value.strip())
    except ValueError:
        fail(f"--close-of-business {value!r} is not a time of day (e.g. 17:00)")
    if parsed.tzinfo is not None:
        fail("--close-of-business is a wall-clock time in --tz; give it without an offset")
    return parsed


def _parse_pause(value: str) -> StopInterval:
    start_text, sep, end_text = value.partition("/")
    if not sep or not end_text.strip():
        fail(f"--pause {value!r} needs START/END, e.g. 2026-11-25T12:00+07:00/2026-11-27T09:00+07:00")
    start, end = (_parse_instant("--pause", part) for part in (start_text, end_text))
    return start, end


def _split_codes(value: str) -> list[str]:
    codes = [part.strip() for part in value.split(",") if part.strip()]
    if not codes:
        fail("--calendars needs at least one calendar code, e.g. KH,US")
    return codes


def _overrides(path: Path | None) -> HolidayOverrides:
    if path is None or str(path) == "":
        return HolidayOverrides()
    if not path.exists():
        # Same rule as the service (a missing file means no decrees), but say
        # so: a mistyped path should not silently change nothing.
        typer.echo(f"warning: overrides file {path} not found; using no overrides", err=True)
    try:
        return load_overrides(path)
    except ValueError as exc:
        fail(str(exc))


def _calendar_set(codes: Sequence[str], overrides_path: Path | None) -> CalendarSet:
    overrides = _overrides(overrides_path)
    try:
        return CalendarSet(codes, overrides)
    except ValueError as exc:
        fail(str(exc))


def _when(instant: dt.datetime) -> str:
    """The weekday as the desk lives it, then the instant in the desk's zone: "Thu 2026-12-10 17:00 ICT"."""
    return f"{instant.astimezone(DESK_ZONE):%a} {at_desk(instant)}"


def _print_due(due: SlaDue, calendars: CalendarSet, tz: str, received: dt.datetime) -> None:
    out = Console()
    out.print(f"[bold]Report due:[/bold] {_when(due.due_at)}")
    out.print(
        f"Received {_when(received)}, day 0 is {due.day0:%a %Y-%m-%d}; "
        f"{due.working_days} working days on {', '.join(calendars.codes)} in {tz}"
        + (f", {due.already_elapsed} already used" if due.already_elapsed else "")
        + (
            f", {due.paused_working_days} not counted while the clock was stopped"
            if due.paused_working_days
            else ""
        )
    )
    if due.provisional:
        years = ", ".join(map(str, due.provisional_years))
        out.print(f"[yellow]Provisional:[/yellow] the holidays of {years} are projected, not yet decreed")
    if due.warn_at is not None:
        out.print(f"Escalation warning: {_when(due.warn_at)}")
    if not due.skipped:
        out.print("No weekday holidays fell in the window.")
        return
    table = Table(title="Holidays not counted as working days")
    table.add_column("Date")
    table.add_column("Day")
    table.add_column("Calendar")
    table.add_column("Holiday")
    for item in due.skipped:
        table.add_row(item.date.isoformat(), f"{item.date:%a}", item.calendar, item.name)
    out.print(table)


@sla_app.command("due")
def sla_due(
    received: Annotated[
        str,
        typer.Option(
            "--received",
            help="When the specialist had the complete records: ISO 8601 with an offset.",
            show_default=False,
        ),
    ],
    working_days: Annotated[
        int, typer.Option("--working-days", help="N, the promised working days.", show_default=False)
    ],
    calendars: Annotated[
        str, typer.Option("--calendars", help="Comma-separated calendar codes: KH, US, US-TX...")
    ] = ",".join(DEFAULT_CALENDARS),
    tz: Annotated[str, typer.Option("--tz", help="SLA time zone (IANA name).")] = DEFAULT_TZ,
    close_of_business: Annotated[
        str, typer.Option("--close-of-business", help="Close of business in --tz, HH:MM.")
    ] = "17:00",
    already_elapsed: Annotated[
        int,
        typer.Option("--already-elapsed", help="Working days used before the clock was stopped."),
    ] = 0,
    pause: Annotated[
        list[str] | None,
        typer.Option(
            "--pause",
            help="A stop-the-clock interval START/END (ISO 8601 with offsets); repeat for each.",
            show_default=False,
        ),
    ] = None,
    overrides: OverridesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """When the written report is due, and which holidays pushed it back."""
    received_at = _parse_received(received)
    if working_days < 1:
        fail(f"--working-days must be at least 1, got {working_days}")
    if already_elapsed < 0:
        fail(f"--already-elapsed must not be negative, got {already_elapsed}")
    pauses = [_parse_pause(p) for p in pause or []]
    if pauses and already_elapsed:
        fail("--pause gives the clock's whole record; drop --already-elapsed")
    cob = _parse_time(close_of_business)
    calendar_set = _calendar_set(_split_codes(calendars), overrides)
    try:
        due = compute_due(
            received_at,
            working_days,
            calendar_set,
            tz=tz,
            close_of_business=cob,
            already_elapsed=already_elapsed,
            pauses=pauses,
        )
    except OverflowError:
        fail("the deadline falls outside the dates the calendars support (years 1-9999)")
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        payload = {
            "due": due.due_at.isoformat(),
            "day0": due.day0.isoformat(),
            "skipped": [
                {"date": s.date.isoformat(), "calendar": s.calendar, "name": s.name} for s in due.skipped
            ],
            "paused_working_days": due.paused_working_days,
            "provisional": due.provisional,
            "provisional_years": due.provisional_years,
        }
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    _print_due(due, calendar_set, tz, received_at)


@calendar_app.command("holidays")
def calendar_holidays(
    year: Annotated[int, typer.Option("--year", help="Calendar year.", show_default=False)],
    calendar: Annotated[str, typer.Option("--calendar", help="Calendar code: KH, US, US-TX...")] = "KH",
    overrides: OverridesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The public holidays of one calendar in one year, decrees applied; projected years are marked."""
    if not 1 <= year <= 9999:
        fail(f"--year must be between 1 and 9999, got {year}")
    calendar_set = _calendar_set([calendar], overrides)
    code = calendar_set.codes[0]
    try:
        days = calendar_set.holidays(year, code)
    except OverflowError:
        fail(f"--year {year} is outside the dates the calendars support")
    except ValueError as exc:
        fail(str(exc))
    provisional = calendar_set.is_provisional(year, code)
    if as_json:
        payload = {
            "calendar": code,
            "year": year,
            "provisional": provisional,
            "holidays": [{"date": day.isoformat(), "name": name} for day, name in days],
        }
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    title = f"{code} public holidays, {year}"
    if provisional:
        # Say it where it cannot be missed: lunar dates may still move.
        title += " (PROVISIONAL: projected, not yet decreed)"
    table = Table(title=title)
    table.add_column("Date")
    table.add_column("Day")
    table.add_column("Holiday")
    for day, name in days:
        # Weekend holidays cost no working day; dim them so the ones that do stand out.
        style = "dim" if day.weekday() >= 5 else None
        table.add_row(day.isoformat(), f"{day:%a}", name, style=style)
    Console().print(table)


def _install(source: Path, target: Path) -> None:
    """Replace ``target`` with ``source``'s bytes at once: the watch never reads half a file."""
    data = source.read_bytes()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _describe_diff(diff: OverridesDiff) -> str:
    if diff.empty:
        return "changes no working day"
    parts = []
    if diff.added:
        parts.append("makes holidays of " + ", ".join(d.isoformat() for d in diff.added))
    if diff.removed:
        parts.append("makes working days of " + ", ".join(d.isoformat() for d in diff.removed))
    if diff.decreed_years:
        parts.append("declares decreed " + ", ".join(map(str, diff.decreed_years)))
    return "; ".join(parts)


@calendar_app.command("apply")
def calendar_apply(
    file: Annotated[Path, typer.Argument(help="The new holiday-overrides YAML file.", show_default=False)],
    overrides: Annotated[
        Path | None,
        typer.Option(
            "--overrides",
            envvar=OVERRIDES_ENV,
            help=f"The overrides file to replace (default: ${OVERRIDES_ENV}, else the service's default).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would change; install nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Validate a decree file, install it as the service's overrides, and say what it changes."""
    if not file.is_file():
        fail(f"{file} is not a file")
    try:
        new = load_overrides(file)
    except ValueError as exc:
        fail(str(exc))
    target = overrides or Settings().holiday_overrides
    if target is None:
        fail(f"no overrides file is configured; set {OVERRIDES_ENV} or pass --overrides")
    try:
        current = load_overrides(target)
    except ValueError:
        # The file in force is broken, so the service still runs on the last good one;
        # compare with no overrides rather than refuse the fix.
        current = HolidayOverrides()
    diff = diff_overrides(current, new)
    installed = False
    if not dry_run and file.resolve() != target.resolve():
        try:
            _install(file, target)
        except OSError as exc:
            fail(f"cannot install {file} as {target}: {exc.strerror or exc}")
        installed = True
    if as_json:
        payload = {
            "target": str(target),
            "installed": installed,
            "decree": diff.decree,
            "added": [d.isoformat() for d in diff.added],
            "removed": [d.isoformat() for d in diff.removed],
            "decreed_years": diff.decreed_years,
        }
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    if dry_run:
        what = f"{file} would replace {target}"
    elif installed:
        what = f"{file} replaced {target}"
    else:
        typer.echo(
            f"{target} is the service's overrides file already: the calendar watch follows it as saved"
        )
        return
    typer.echo(f"{what}: it {_describe_diff(diff)}")
    if installed and not diff.empty:
        typer.echo("Running cases whose deadline it can move recompute within a minute (the calendar watch).")
