"""`smo`: the coordinator's command line (Typer + Rich), a thin client of the service's API.

Coordinator commands call `SMO_API_URL` with `SMO_TOKEN`: no keys, no store and no
Temporal connection on the coordinator's machine. Server-side commands (`dev`, `worker`,
`web`, `demo`, `user`) and the local calculators (`sla`, `calendar`, `program`,
`eligibility`) import what they need only when they run, so `smo --help` stays fast.
A user mistake prints one `error:` line and exits 2.

This module is the command tree: each group's commands live in their own module
(`case_cli`, `records_cli`, `review_cli`, `consult_cli`, `service_cli`, and the lazy ones
below), the shared helpers in `cli_common`.
"""

from __future__ import annotations

import importlib
import sys

import typer
from typer._click.core import Command, Context  # typer vendors its own click; its groups take these
from typer.core import TyperGroup

from starter.case_cli import audit_cmd, case_app
from starter.cli_common import PLAIN, err
from starter.consult_cli import consult_app
from starter.doctor_cli import doctor_app
from starter.followup_cli import followup_app
from starter.records_cli import records_app, release_app
from starter.retention_cli import erase_cmd, hold_cmd, release_cmd
from starter.review_cli import info_app, report_app, specialist_app
from starter.service_cli import demo, dev, outbox_cmd, web_cmd, worker_cmd

# Sub-apps loaded only when their command runs: name -> (module:attribute, one-line help).
LAZY: dict[str, tuple[str, str]] = {
    "sla": ("starter.calendar_cli:sla_app", "Report deadlines under the working-day SLA."),
    "calendar": ("starter.calendar_cli:calendar_app", "Public-holiday calendars used by the SLA."),
    "program": ("starter.program_cli:program_app", "Inspect the configured SMO programs."),
    "eligibility": ("starter.program_cli:eligibility_app", "Check eligibility without opening a case."),
    "user": ("starter.user_cli:user_app", "API users and their personal tokens (run where the case DB is)."),
    "db": ("starter.db_cli:db_app", "The case DB: its schema, its revision, its read model."),
    "storage": ("starter.storage_cli:storage_app", "The document store: move it to another backend."),
    "portal": ("starter.portal_cli:portal_app", "The member portal: sign-in links."),
    "consent": ("starter.portal_cli:consent_app", "The member's consent to send records abroad."),
}


class LazyGroup(TyperGroup):
    """Lists the lazy sub-apps by their help line; imports one only when it is invoked."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in LAZY if n not in self.commands)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name in LAZY and cmd_name not in self.commands:
            return TyperGroup(name=cmd_name, help=LAZY[cmd_name][1])  # a label for the help page
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        name = args[0] if args else ""
        if name in LAZY and name not in self.commands:
            module, attr = LAZY[name][0].split(":")
            sub = typer.main.get_group(getattr(importlib.import_module(module), attr))
            sub.name = name
            self.add_command(sub, name)
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=LazyGroup,
    help="Second Medical Opinion cases, driven durably.",
    pretty_exceptions_enable=False,
    **PLAIN,
)
# The help page lists the commands in the order they are registered, then the groups.
app.command()(dev)
app.command("worker")(worker_cmd)
app.command("web")(web_cmd)
app.command()(demo)
app.command("audit")(audit_cmd)
app.command("outbox")(outbox_cmd)
# A case's legal hold and erasure (starter/retention_cli.py) are `smo case` commands too.
case_app.command("hold")(hold_cmd)
case_app.command("release")(release_cmd)
case_app.command("erase")(erase_cmd)
app.add_typer(case_app, name="case")
app.add_typer(records_app, name="records")
app.add_typer(release_app, name="release")
app.add_typer(specialist_app, name="specialist")
app.add_typer(report_app, name="report")
app.add_typer(consult_app, name="consult")
app.add_typer(followup_app, name="followup")
app.add_typer(doctor_app, name="doctor")
app.add_typer(info_app, name="info")


def main() -> None:
    """The console script: usage mistakes get the same one-line `error:` as everything else."""
    try:
        code = app(standalone_mode=False)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:
        # Typer's usage errors (missing option, bad choice...) carry exit code 2 and a message.
        if getattr(exc, "exit_code", None) != 2 or not hasattr(exc, "format_message"):
            raise
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        err.print(f"error: {exc.format_message()}{hint}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
