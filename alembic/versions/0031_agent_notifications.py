"""agent notifications: whether an agent wants a browser notification and a beep for news

Revision ID: 0031
Revises: 0030
Create Date: 2026-11-30

`agent` gains `notify_desktop` and `notify_sound`, each the agent's own opt-in to be told (in
the browser) of a chat assigned to them or a colleague's mention. Existing agents: both off.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agent") as batch:
        batch.add_column(
            sa.Column("notify_desktop", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("notify_sound", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("agent") as batch:
        batch.drop_column("notify_sound")
        batch.drop_column("notify_desktop")
