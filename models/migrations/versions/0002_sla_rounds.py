"""The sla_rounds table: one review round's SLA facts, the source of the monthly SLA report.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sla_rounds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("program", sa.String(length=40), nullable=False),
        sa.Column("assignment_no", sa.Integer(), nullable=False),
        sa.Column("specialist_id", sa.String(length=40), nullable=False),
        sa.Column("working_days", sa.Integer(), nullable=False),
        sa.Column("calendars", sa.String(length=40), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("warned", sa.Boolean(), nullable=False),
        sa.Column("breached", sa.Boolean(), nullable=False),
        sa.Column("paused_working_days", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "assignment_no"),
    )
    op.create_index("ix_sla_rounds_case_id", "sla_rounds", ["case_id"])
    op.create_index("ix_sla_rounds_ended_at", "sla_rounds", ["ended_at"])
    op.create_index("ix_sla_rounds_program", "sla_rounds", ["program"])
    op.create_index("ix_sla_rounds_specialist_id", "sla_rounds", ["specialist_id"])


def downgrade() -> None:
    op.drop_table("sla_rounds")
