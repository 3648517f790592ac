"""a campaign's test split: when its winner is picked, and the decision

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-30

A campaign file may send a test split first and the winner to the rest later. The wait is a
timer on the campaign's `campaign_send` row (`decide_at`, fired by the clock); the decision
(which variant, why, the numbers) and when it was taken are kept beside it. All NULL on every
existing row: campaigns without a test are sent as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.add_column("campaign_send", sa.Column("decide_at", moment, nullable=True))
    op.add_column("campaign_send", sa.Column("decision", sa.JSON(), nullable=True))
    op.add_column("campaign_send", sa.Column("decided_at", moment, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaign_send") as batch:
        batch.drop_column("decided_at")
        batch.drop_column("decision")
        batch.drop_column("decide_at")
