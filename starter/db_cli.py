"""`smo db ...`: the case DB's schema under Alembic (upgrade to head, show the revision), and
the case read model rebuilt from the workflows.

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


@db_app.command("rebuild-read-model")
def rebuild_read_model_command() -> None:
    """Rebuild the case read model from the workflows (after a restore, or on upgrading to it).

    Asks every case the Temporal server keeps for its status; a case that changes meanwhile
    keeps its own newer view. Safe to run while the service runs, and to run again.
    """
    import asyncio

    from sqlalchemy.exc import SQLAlchemyError

    from models.settings import Settings
    from runtime.case_views import CaseViews
    from runtime.db import SchemaNotAtHead, check_schema, make_engine
    from runtime.temporal import connect
    from service.read_model import rebuild_read_model

    settings = Settings()
    engine = make_engine(settings.db_url)

    async def main() -> str:
        try:
            client = await connect(settings)
        except RuntimeError as exc:
            _fail(f"Temporal at {settings.temporal_address}: {exc}")
        done = await rebuild_read_model(client, CaseViews(engine))
        text = f"read model rebuilt: {done.running} running and {done.closed} closed case(s)"
        if done.kept_newer:
            text += f"; {done.kept_newer} had written a newer view meanwhile and kept it"
        if done.failed:
            _fail(f"{text}; {len(done.failed)} did not answer: {', '.join(sorted(done.failed))}")
        return text

    try:
        check_schema(engine)
        typer.echo(asyncio.run(main()))
    except SchemaNotAtHead as exc:
        _fail(str(exc))
    except SQLAlchemyError as exc:
        _fail(f"cannot reach the case DB at {_shown(settings.db_url)}: {str(exc).splitlines()[0]}")
    finally:
        engine.dispose()


if __name__ == "__main__":
    db_app()
