"""sign-ups on the public page, kept briefly to limit them per address and per number

Revision ID: 0021
Revises: 0019
Create Date: 2026-11-30

`/join` is public: `signup_attempt` holds one row per sign-up it accepted, with the client's
address and the number, so every web process counts the same sign-ups
(README, "Grow your list"). Rows older than the limits' window are deleted as new ones come.
A new table: no existing row changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0021"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signup_attempt",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("remote_addr", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("signup_attempt", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_signup_attempt_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_signup_attempt_phone"), ["phone"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_signup_attempt_remote_addr"), ["remote_addr"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("signup_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signup_attempt_remote_addr"))
        batch_op.drop_index(batch_op.f("ix_signup_attempt_phone"))
        batch_op.drop_index(batch_op.f("ix_signup_attempt_created_at"))
    op.drop_table("signup_attempt")
