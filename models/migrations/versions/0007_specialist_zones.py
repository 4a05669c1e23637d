"""Each specialist's time zone, so that dates reach them in their own zone; each sign-in
link's language, so that its page opens in the language of its email.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The roster's specialists are in Texas; the seed sets each one's zone at start-up.
    with op.batch_alter_table("specialists") as batch:
        batch.add_column(
            sa.Column("timezone", sa.String(length=64), nullable=False, server_default="America/Chicago")
        )
    # A sign-in link remembers the language of the email that carried it.
    with op.batch_alter_table("portal_links") as batch:
        batch.add_column(sa.Column("language", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("portal_links") as batch:
        batch.drop_column("language")
    with op.batch_alter_table("specialists") as batch:
        batch.drop_column("timezone")
