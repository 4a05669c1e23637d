"""The case read model: one row per case with what the edges show, written by the case.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

An existing deployment fills it with `smo db rebuild-read-model` after this upgrade.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_views",
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("program", sa.String(length=40), nullable=False),
        sa.Column("stage", sa.String(length=40), nullable=False),
        sa.Column("specialty", sa.String(length=60), nullable=True),
        sa.Column("sla_state", sa.String(length=20), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attention", sa.String(length=200), nullable=True),
        sa.Column("running", sa.Boolean(), nullable=False),
        sa.Column("by_case", sa.Boolean(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
    )
    for column in ("program", "stage", "sla_state", "due_at", "attention", "running", "opened_at"):
        op.create_index(f"ix_case_views_{column}", "case_views", [column])


def downgrade() -> None:
    op.drop_table("case_views")
