"""What each opinion changed, and what the member answered in the survey: for the outcomes report.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "opinion_outcomes",
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("program", sa.String(length=40), nullable=False),
        sa.Column("specialist_id", sa.String(length=40), nullable=False),
        sa.Column("diagnosis", sa.String(length=16), nullable=False),
        sa.Column("treatment", sa.String(length=16), nullable=False),
        sa.Column("surgery_avoided", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "reported_at"),
    )
    op.create_index("ix_opinion_outcomes_reported_at", "opinion_outcomes", ["reported_at"])
    op.create_index("ix_opinion_outcomes_program", "opinion_outcomes", ["program"])
    op.create_table(
        "survey_answers",
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("program", sa.String(length=40), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("satisfaction", sa.Integer(), nullable=False),
        sa.Column("will_follow", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_index("ix_survey_answers_program", "survey_answers", ["program"])
    op.create_index("ix_survey_answers_answered_at", "survey_answers", ["answered_at"])


def downgrade() -> None:
    op.drop_table("survey_answers")
    op.drop_table("opinion_outcomes")
