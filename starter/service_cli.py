"""`smo dev|worker|web|demo|outbox`: the service itself, run on this machine.

Each command imports the server side (`starter.server_cmds`: Temporal, SQLAlchemy, aiohttp)
only when it runs, so `smo --help` and the coordinator's commands never load it. `outbox`
asks the API what the dev stack's SMTP outbox received. `starter.cli` registers these at
the top level of `smo`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.table import Table

from starter.api_client import Api
from starter.cli_common import command, fail, out


def _serve(run: Callable[[], None]) -> None:
    """A server command: an operator's mistake (a case DB behind the schema, a document store
    that cannot be reached or refuses the credentials) is one `error:` line and exit 2."""
    try:
        run()
    except Exception as exc:
        from service.errors import UserError  # the command has loaded the service by now

        if not isinstance(exc, UserError):
            raise
        fail(str(exc))


def dev(
    demo: Annotated[bool, typer.Option(help="Run the demo case once the service is up")] = False,
    program: Annotated[str, typer.Option(help="Program for the demo case")] = "prudential-kh",
) -> None:
    """Run the whole service locally: dev server + Web UI, SMTP outbox, API and codec web, worker."""
    from starter.server_cmds import run_dev

    _serve(lambda: command(lambda: run_dev(demo=demo, program=program, say=out.print)))
    out.print("stopped")


def worker_cmd(
    processes: Annotated[int, typer.Option(min=1, max=64, help="Worker processes to run")] = 1,
) -> None:
    """Run a worker against an existing Temporal server (SMO_TEMPORAL_ADDRESS)."""
    from starter.server_cmds import run_worker

    _serve(lambda: run_worker(processes))


def web_cmd(
    processes: Annotated[
        int, typer.Option(min=1, max=64, help="Web processes sharing the port (one core each)")
    ] = 1,
) -> None:
    """Serve the API, the Web UI's codec endpoint and the signed report links (SMO_WEB_HOST/PORT)."""
    from starter.server_cmds import run_web

    _serve(lambda: run_web(processes))


def demo(
    once: Annotated[bool, typer.Option(help="Start what it needs, run the case to CLOSED, stop")] = False,
    program: Annotated[str, typer.Option(help="prudential-kh or assist-america")] = "prudential-kh",
    until: Annotated[
        str | None, typer.Option(help="report: stop once the report is delivered, the case left open")
    ] = None,
) -> None:
    """Drive the demo case (Sokha Chan, C50.912) through every stage and print its timeline."""
    from starter.server_cmds import run_demo_cmd

    if until not in (None, "report"):
        raise typer.BadParameter("the demo stops only at: report", param_hint="--until")
    stop = until == "report"
    _serve(
        lambda: command(lambda: run_demo_cmd(once=once, program=program, say=out.print, until_report=stop))
    )


def outbox_cmd(case_id: Annotated[str | None, typer.Argument()] = None) -> None:
    """Messages the local SMTP outbox received (`smo dev`)."""

    def run() -> None:
        box = Api().request("GET", "/api/v1/outbox", query={"case_id": case_id})
        _print_outbox(box["messages"], box["directory"])

    command(run)


def _print_outbox(messages: list[dict[str, Any]], directory: str) -> None:
    table = Table("to", "subject")
    for msg in messages:
        table.add_row(msg["to"], msg["subject"])
    out.print(table)
    out.print(f"{len(messages)} message(s) in {directory}")
