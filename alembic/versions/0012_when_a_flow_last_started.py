"""when a flow last started for a person: an index for the triggers' `restart` rule

Revision ID: 0012
Revises: 0010
Create Date: 2026-11-29

A trigger may start a flow again for one person only as its `restart` rule allows (the welcome
series once, by default), so starting a flow looks up when it last started for them. The index
answers that from (subscriber_id, flow, started_at) alone, however many people ran the flow.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_conversation_subscriber_flow",
        "conversation",
        ["subscriber_id", "flow", "started_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_conversation_subscriber_flow", table_name="conversation")
