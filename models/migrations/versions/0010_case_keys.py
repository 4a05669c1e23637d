"""Per-case document keys, legal holds and the stubs erased cases leave.

Every case already in the case DB is marked `legacy`: its documents may be the store's shared
`objects/<sha256>`, and stay readable for it until `smo storage rekey` rewrites them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    keys = op.create_table(
        "case_keys",
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("wrapped", sa.String(length=200), nullable=True),
        sa.Column("legacy", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_table(
        "case_holds",
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("held_by", sa.String(length=64), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_table(
        "case_erasures",
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("how", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("erased_by", sa.String(length=64), nullable=False),
        sa.Column("program", sa.String(length=40), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("documents", sa.Integer(), nullable=False),
        sa.Column("objects", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
    )
    conn = op.get_bind()
    now = datetime.now(UTC)
    known: set[str] = set()
    for table in ("cases", "documents", "intake_confirmations"):
        known |= {row[0] for row in conn.execute(sa.text(f"SELECT DISTINCT case_id FROM {table}"))}
    if known:
        op.bulk_insert(
            keys,
            [{"case_id": c, "wrapped": None, "legacy": True, "created_at": now} for c in sorted(known)],
        )


def downgrade() -> None:
    # Dropping the case keys would make every document stored since unreadable, for good.
    count = sa.text("SELECT count(*) FROM case_keys WHERE wrapped IS NOT NULL")
    live = op.get_bind().execute(count).scalar()
    if live:
        raise RuntimeError(
            f"{live} case keys would be lost with their documents: refusing to downgrade past 0010"
        )
    op.drop_table("case_erasures")
    op.drop_table("case_holds")
    op.drop_table("case_keys")
