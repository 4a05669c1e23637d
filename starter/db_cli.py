"""`smo db ...`: the case DB's schema under Alembic (upgrade to head, show the revision).

Operated databases (DATABASE_URL) are upgraded only here, deliberately, before a release;
the worker and web refuse to start on a schema that is not at head. Imports stay light at
module level so `smo --help` does not load SQLAlchemy and Alembic.
"""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer

__all__ = ["db_app"]

db_app = typer.Typer(help="The case database's schema (migrations).", no_args_is_help=True)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@db_app.command("upgrade")
def upgrade_command(
    revision: Annotated[
        str, typer.Option("--revision", help="Target revision (default: the newest, 'head').")
    ] = "head",
) -> None:
    """Bring the case DB (DATABASE_URL, or SQLite in SMO_HOME) to the schema this code needs."""
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from models.settings import Settings
    from runtime.db import current_revision, make_engine, upgrade

    settings = Settings()
    try:
        engine = make_engine(settings.db_url)
    except (ValueError, SQLAlchemyError) as exc:
        _fail(f"DATABASE_URL is not usable: {exc}")
    try:
        before = current_revision(engine)
        after = upgrade(engine, revision)
    except CommandError as exc:
        _fail(f"cannot upgrade to {revision!r}: {exc}")
    except SQLAlchemyError as exc:
        _fail(f"cannot reach the case DB at {_shown(settings.db_url)}: {str(exc).splitlines()[0]}")
    finally:
        engine.dispose()
    if before == after:
        typer.echo(f"case DB at {_shown(settings.db_url)}: already at {after}")
    else:
        typer.echo(f"case DB at {_shown(settings.db_url)}: {before or 'empty'} -> {after}")


@db_app.command("current")
def current_command() -> None:
    """Show the case DB's revision and the one this code needs (exit 1 when they differ)."""
    from sqlalchemy.exc import SQLAlchemyError

    from models.settings import Settings
    from runtime.db import current_revision, head_revision, make_engine

    settings = Settings()
    engine = make_engine(settings.db_url)
    try:
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        _fail(f"cannot reach the case DB at {_shown(settings.db_url)}: {str(exc).splitlines()[0]}")
    finally:
        engine.dispose()
    head = head_revision()
    typer.echo(f"case DB at {_shown(settings.db_url)}: {current or 'no schema'} (code needs {head})")
    if current != head:
        raise typer.Exit(1)


if __name__ == "__main__":
    db_app()
