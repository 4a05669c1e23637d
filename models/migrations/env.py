"""Alembic environment for the case DB, configured from code (see `runtime.db.alembic_config`).

The caller hands over an open connection in `config.attributes["connection"]`, so the same
engine setup (SQLite pragmas, the psycopg driver) serves the service and its migrations.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import models.db
import models.users  # noqa: F401

config = context.config
target_metadata = SQLModel.metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        # runtime.db.upgrade runs the whole upgrade in one transaction on both databases
        # (BEGIN EXCLUSIVE on SQLite), so DDL is transactional there too.
        transactional_ddl=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run `smo db upgrade` against the DB")

connection = config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations through `smo db upgrade` (runtime.db.upgrade), not bare alembic")
run(connection)
