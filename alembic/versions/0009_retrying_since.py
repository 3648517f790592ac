"""when the provider first failed an outbox text

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

A text the provider fails in a way worth retrying (5xx, timeouts, an outage) is retried for the
retry window, counted from `message.retrying_since`, instead of for a number of attempts that a
90-second outage used up. Pending texts with it set are the ones waiting on the provider.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retrying_since", sa.DateTime(timezone=True), nullable=True))
    # Texts already retrying when this runs: their window counts from their latest failure.
    op.execute(
        "UPDATE message SET retrying_since = updated_at WHERE status = 'pending' AND attempts > 0"
    )


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("retrying_since")
