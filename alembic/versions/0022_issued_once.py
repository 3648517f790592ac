"""what a person gets only once (a welcome coupon): one row per person and key

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-30

An `action` step marked `once_per_person` (the welcome flow's coupon) claims a row here before
its action is called: the unique (subscriber_id, key) pair lets one of two concurrent
confirmations, or a rejoin after STOP and START, issue it, and never a second.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "issued_once",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=140), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ux_issued_once_person_key", "issued_once", ["subscriber_id", "key"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ux_issued_once_person_key", table_name="issued_once")
    op.drop_table("issued_once")
