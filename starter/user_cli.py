"""`smo user add|list|revoke`: personal API tokens, managed on the server's machine (case DB access)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from starter.cli_common import at_desk

user_app = typer.Typer(
    help="API users and their personal tokens (run where the case DB is).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
out = Console()
err = Console(stderr=True)

if TYPE_CHECKING:
    from web.tokens import TokenStore


def _tokens() -> TokenStore:
    """The token table, imported only when a user command runs (it needs SQLAlchemy and the DB)."""
    from runtime.db import init_db
    from starter.dev import load_settings
    from web.tokens import TokenStore

    # The same schema check (or, on the embedded default, upgrade) as the worker and the web.
    return TokenStore(init_db(load_settings()))


def _fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


@user_app.command("add")
def user_add(
    name: str,
    role: Annotated[str, typer.Option(help="coordinator or supervisor")],
    program: Annotated[
        list[str] | None, typer.Option(help="Limit to a program (repeatable; default all)")
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=3660, help="How long the token is valid")] = 365,
) -> None:
    """Add a user; the new token is printed as the last line (it is shown only once)."""
    from datetime import timedelta

    from models.users import Role
    from web.tokens import UserRefused

    try:
        chosen = Role(role.strip().lower())
    except ValueError:
        raise _fail(f"--role {role!r} must be coordinator or supervisor") from None
    try:
        token = _tokens().add(name, chosen, program or [], lifetime=timedelta(days=days))
    except UserRefused as exc:
        raise _fail(str(exc)) from None
    scope = ", ".join(program or []) or "every program"
    out.print(f"user {name}: {chosen.value} for {scope}, valid {days} days. Token:", highlight=False)
    print(token)


@user_app.command("list")
def user_list() -> None:
    """Users, roles, programs and whether their token is still valid (tokens are never shown)."""
    from datetime import UTC, datetime

    table = Table("user", "role", "programs", "expires", "state")
    now = datetime.now(UTC)
    for u in _tokens().users():
        expires = u.expires_at if u.expires_at.tzinfo else u.expires_at.replace(tzinfo=UTC)
        state = "revoked" if u.revoked_at else "expired" if expires <= now else "active"
        table.add_row(u.name, u.role, u.programs or "all", at_desk(expires), state)
    out.print(table)


@user_app.command("revoke")
def user_revoke(name: str) -> None:
    """Revoke a user's token at once."""
    from web.tokens import UserRefused

    try:
        _tokens().revoke(name)
    except UserRefused as exc:
        raise _fail(str(exc)) from None
    out.print(f"user {name}: token revoked")
