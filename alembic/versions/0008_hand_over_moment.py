"""the moment a text was handed to the provider, after its last consent check

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29

A claimed text (UNKNOWN) is checked for consent once more just before the gateway call, in a
short transaction that stamps `handed_over_at`. A STOP waits for texts to its number that carry
the stamp and are still unknown, so nothing but its confirmation follows it. A claimed row
without the stamp was provably never handed over.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handed_over_at", sa.DateTime(timezone=True), nullable=True))
    # A text left unknown before this upgrade (a crash, a timeout) may have reached the
    # provider: stamped, it is looked up there, never requeued as "claimed, never handed over".
    op.execute(
        "UPDATE message SET handed_over_at = COALESCE(sent_at, updated_at) WHERE status = 'unknown'"
    )


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("handed_over_at")
