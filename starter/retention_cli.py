"""`smo case hold`, `release` and `erase`: a closed case's legal hold and erasure, through the API.

All three are the supervisor's (the API refuses a coordinator's token). An erasure cannot be
undone, so `erase` asks for the case id to be typed back first (`--yes` answers for a script);
then it starts the erasure and waits, asking the API, until the case's stub exists. `status`
shows a held or erased case's lines from here too, and falls back to the stub once the server no
longer keeps the case's history.
"""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

from starter.api_client import Api, ApiRefused
from starter.cli_common import UserError, at_desk, case_path, command, err, out

POLL_EVERY = 1.0  # seconds between two questions while an erasure runs
DEFAULT_WAIT = 900  # seconds: a large case in S3 takes a while; a healthy one a few seconds


class NotConfirmed(UserError):
    pass


def erasure_line(erasure: dict[str, Any]) -> str:
    """ "Erased: <when> (<how>, <reason>)", as `status` prints it."""
    return f"Erased: {at_desk(erasure['erased_at'])} ({erasure['how']}, {erasure['reason']})"


def retention_lines(status: dict[str, Any]) -> list[str]:
    """The status lines of a case's legal hold and erasure (none when it has neither)."""
    lines = []
    hold = status.get("hold")
    if hold and hold.get("held"):
        lines.append(f"Legal hold: since {at_desk(hold['held_at'])} by {hold['held_by']} ({hold['reason']})")
    erasure = status.get("erasure")
    if erasure:
        lines.append(erasure_line(erasure))
    return lines


def erased_status(api: Api, case_id: str) -> dict[str, Any] | None:
    """The stub of a case the server keeps no history of any more; None when it was not erased."""
    try:
        erasure: dict[str, Any] = api.request("GET", f"{case_path(case_id)}/erasure")
    except ApiRefused as exc:
        if exc.status == 404:
            return None
        raise
    return erasure


def print_erased(erasure: dict[str, Any]) -> None:
    """What `status` shows of an erased case whose workflow history is gone."""
    out.print(f"[bold]{erasure['case_id']}[/]  {erasure['program']}  [bold cyan]ERASED[/]")
    out.print(f"  {erasure_line(erasure)}", markup=False, highlight=False)
    out.print(
        f"  opened {at_desk(erasure['opened_at']) or '?'}, closed {at_desk(erasure['closed_at']) or '?'};"
        f" {erasure['documents']} documents removed",
        markup=False,
        highlight=False,
    )


def _print_hold(state: dict[str, Any]) -> None:
    if state["held"]:
        line = f"{state['case_id']}: under legal hold since {at_desk(state['held_at'])} by {state['held_by']}"
        out.print(line + (f" ({state['detail']})" if state["detail"] != "held" else ""), markup=False)
    else:
        out.print(f"{state['case_id']}: {state['detail'] or 'not under legal hold'}", markup=False)


def hold_cmd(case_id: str, reason: Annotated[str, typer.Option(help="Why (a matter, a request)")]) -> None:
    """Put a case under legal hold: the retention purge skips it and erasure is refused (supervisors)."""
    command(lambda: _print_hold(Api().request("POST", f"{case_path(case_id)}/hold", body={"reason": reason})))


def release_cmd(case_id: str) -> None:
    """Lift a case's legal hold (supervisors)."""
    command(lambda: _print_hold(Api().request("POST", f"{case_path(case_id)}/hold/release", body={})))


def _confirmed(case_id: str) -> None:
    """The case id typed back; anything else (or nothing) stops here, before anything is sent."""
    # Read here rather than with typer.prompt, whose input() would put a stray space on stdout.
    err.print(
        f"Erase case {case_id} for good (every document, its key, the member's details)? "
        "Type the case id to confirm: ",
        end="",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    typed = sys.stdin.readline()  # "" at the end of the input: nothing typed
    if not typed.endswith("\n") or not sys.stdin.isatty():
        err.print()  # no answer echoed by a terminal: what follows starts a line of its own
    if typed.strip() != case_id:
        raise NotConfirmed(f"not confirmed: the case id was not typed back; case {case_id} is unchanged")


def _wait_for(api: Api, case_id: str, wait: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + wait
    while True:
        # A failed erasure is a 409 saying why: it ends the wait as an error.
        erasure = erased_status(api, case_id)
        if erasure is not None or time.monotonic() > deadline:
            return erasure
        time.sleep(POLL_EVERY)


def erase_cmd(
    case_id: str,
    reason: Annotated[str, typer.Option(help="Why (e.g. the member's request and its reference)")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirmed already (scripts): no question asked")
    ] = False,
    wait: Annotated[
        int, typer.Option(min=0, help="Seconds to wait for the erasure to finish")
    ] = DEFAULT_WAIT,
) -> None:
    """Erase a closed case now: its documents, key and member data (supervisors; cannot be undone)."""

    def run() -> None:
        if not yes:
            _confirmed(case_id)
        api = Api()
        api.request("POST", f"{case_path(case_id)}/erase", body={"reason": reason})
        erasure = _wait_for(api, case_id, wait)
        if erasure is None:
            out.print(f"{case_id}: erasure started and still running (see smo case status {case_id})")
            raise typer.Exit(1)
        out.print(
            f"erased {case_id} at {at_desk(erasure['erased_at'])}: {erasure['documents']} documents",
            markup=False,
            highlight=False,
        )

    command(run)
