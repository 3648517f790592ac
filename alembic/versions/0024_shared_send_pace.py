"""one pace for all workers: a sender's token bucket in a row every worker shares

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-30

`send_pace` holds, per sender, the moment its token bucket is next free (microseconds since
the epoch, on the injected clock). Each worker reserves a hand-over's slot with one atomic upsert of
that row, so any number of `bot worker`s together keep to SEND_RATE. A new table: no existing
row changes; it fills itself on the first send.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "send_pace",
        sa.Column("sender", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("next_free_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sender"),
    )


def downgrade() -> None:
    op.drop_table("send_pace")
