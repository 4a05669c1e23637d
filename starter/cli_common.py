"""What every `smo` command module shares: the consoles, the one way to fail, and the API call.

A user mistake prints one `error: …` line on stderr and exits 2. Commands that call the API
run inside `command()`, which turns a refusal, an unreachable API or a bad file into that
line; the local calculators (`sla`, `calendar`, `program`, `eligibility`) check as they go
and stop with `fail()`. Only typer, Rich and the standard-library API client are imported
here: every coordinator command loads this module, and `smo --help` must stay fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from starter.api_client import Api, ApiRefused, ApiUnreachable

T = TypeVar("T")

# Plain help pages: Typer's Rich help imports a Markdown parser, a third of `smo --help`.
PLAIN: dict[str, Any] = {"no_args_is_help": True, "rich_markup_mode": None}

# Files are checked before anything is sent.
EXISTING: dict[str, Any] = {"exists": True, "dir_okay": False, "readable": True}

out = Console()
err = Console(stderr=True)

# Every time the desk reads is in one zone, the desk's own, and says so; JSON keeps the
# instant as ISO 8601 with its offset.
DESK_ZONE = ZoneInfo("Asia/Phnom_Penh")
DESK_ZONE_NAME = "ICT"


class UserError(Exception):
    """A mistake the coordinator can fix, found before anything is sent."""


def explain(exc: BaseException) -> str | None:
    """One readable line for a mistake the user can fix, else None."""
    if isinstance(exc, (UserError, ApiRefused, ApiUnreachable)):
        return str(exc)
    # A missing or unreadable file is the user's to fix; check it before the network errors
    # it would otherwise be mistaken for (FileNotFoundError is an OSError).
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename or exc}: no such file"
    if isinstance(exc, PermissionError):
        return f"{exc.filename or exc}: permission denied"
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename or exc}: is a folder, not a file"
    if isinstance(exc, (ConnectionError, OSError)):
        return f"cannot reach the SMO API ({type(exc).__name__}); is `smo dev` running?"
    if isinstance(exc, ValueError):
        return str(exc)
    return None


def command(fn: Callable[[], T]) -> T:
    """Run one command; turn user mistakes into `error: ...` and exit code 2."""
    try:
        return fn()
    except typer.Exit:
        raise
    except Exception as exc:
        message = explain(exc)
        if message is None:
            raise
        err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def fail(message: str, code: int = 2) -> NoReturn:
    """Stop a local command at a mistake: `error: <message>` on stderr, exit `code`."""
    # typer.echo rather than a Rich console: Rich would wrap a long message
    # (an unknown calendar code lists every valid one) over several lines.
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def at_desk(instant: datetime | str | None, *, seconds: bool = False) -> str:
    """An instant as the desk reads it: "2026-04-14 17:00 ICT" ("" for none).

    `instant` is a datetime or the API's ISO 8601 text; one without an offset is UTC, as the
    case DB stores its times. `seconds` for a trail, whose events can share a minute.
    """
    if instant is None or instant == "":
        return ""
    moment = datetime.fromisoformat(instant) if isinstance(instant, str) else instant
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    clock = "%H:%M:%S" if seconds else "%H:%M"
    return f"{moment.astimezone(DESK_ZONE).strftime('%Y-%m-%d ' + clock)} {DESK_ZONE_NAME}"


def case_path(case_id: str) -> str:
    """The API path of one case; the id is quoted, whatever the coordinator typed."""
    from urllib.parse import quote

    return f"/api/v1/cases/{quote(case_id, safe='')}"


def print_ack(ack: dict[str, Any]) -> None:
    if not ack.get("done", True):  # the case accepted it and is still carrying it out
        out.print(f"{ack['case_id']}: accepted, in progress (see smo case status {ack['case_id']})")
        return
    detail = f" ({ack['detail']})" if ack.get("detail") else ""
    out.print(f"{ack['case_id']}: {ack['stage']}{detail}")


def post(case_id: str, action: str, body: dict[str, Any] | None = None) -> None:
    """One coordinator action on a case: the API sends the update, audits it and answers."""
    command(lambda: print_ack(Api().request("POST", f"{case_path(case_id)}/{action}", body=body or {})))


def upload(
    case_id: str,
    action: str,
    files: list[Path],
    query: dict[str, Any],
    fields: Sequence[tuple[str, str]] = (),
) -> None:
    """Files to a case, streamed as they are read, after the text `fields`; each file is checked
    to exist first."""

    def run() -> None:
        for path in files:
            if not path.is_file():
                raise UserError(f"{path}: no such file")
        api = Api()
        target = f"{case_path(case_id)}/{action}"
        print_ack(api.request("POST", target, query=query, files=files, multipart=bool(files), fields=fields))

    command(run)
