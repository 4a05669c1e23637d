"""The specialist_loads table: active assignments per specialist, kept with the assignments.

Filled from the assignments that are active when it is created.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "specialist_loads",
        sa.Column("specialist_id", sa.String(length=40), nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("specialist_id"),
    )
    op.execute(
        "INSERT INTO specialist_loads (specialist_id, active)"
        " SELECT specialist_id, COUNT(*) FROM assignments WHERE status = 'active' GROUP BY specialist_id"
    )


def downgrade() -> None:
    op.drop_table("specialist_loads")
