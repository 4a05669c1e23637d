"""Each specialist's consult hours and time off; the consult slots held while a consult is
pending, one booking per specialist and start.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The seed fills both from the roster at start-up.
    with op.batch_alter_table("specialists") as batch:
        batch.add_column(
            sa.Column("consult_hours", sa.String(length=2000), nullable=False, server_default="{}")
        )
        batch.add_column(sa.Column("time_off", sa.String(length=2000), nullable=False, server_default="[]"))
    op.create_table(
        "consult_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("specialist_id", sa.String(length=40), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("specialist_id", "start"),
    )
    op.create_index(op.f("ix_consult_holds_specialist_id"), "consult_holds", ["specialist_id"])
    op.create_index(op.f("ix_consult_holds_case_id"), "consult_holds", ["case_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_consult_holds_case_id"), table_name="consult_holds")
    op.drop_index(op.f("ix_consult_holds_specialist_id"), table_name="consult_holds")
    op.drop_table("consult_holds")
    with op.batch_alter_table("specialists") as batch:
        batch.drop_column("time_off")
        batch.drop_column("consult_hours")
