"""Each answered follow-up question's SLA facts: an SLA round of its own kind.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "follow_up_rounds",
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("program", sa.String(length=40), nullable=False),
        sa.Column("specialist_id", sa.String(length=40), nullable=False),
        sa.Column("working_days", sa.Integer(), nullable=False),
        sa.Column("calendars", sa.String(length=40), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("warned", sa.Boolean(), nullable=False),
        sa.Column("breached", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "n"),
    )
    op.create_index("ix_follow_up_rounds_program", "follow_up_rounds", ["program"])
    op.create_index("ix_follow_up_rounds_answered_at", "follow_up_rounds", ["answered_at"])


def downgrade() -> None:
    op.drop_table("follow_up_rounds")
