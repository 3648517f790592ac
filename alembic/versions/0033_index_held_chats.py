"""An index on the chats agents hold, by when their agent last acted

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-01

The clock asks at every wake when the agent idle longest last acted, and hands back chats idle
past AGENT_IDLE_MINUTES. Both read the active conversations an agent holds; without this index
they read every active conversation (a welcome series waiting days keeps most people's active),
twice a wake. Partial like the other indexes on active conversations.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    op.create_index(
        "ix_conversation_active_handler",
        "conversation",
        ["handled_by", "agent_active_at"],
        sqlite_where=_ACTIVE,
        postgresql_where=_ACTIVE,
    )


def downgrade() -> None:
    op.drop_index("ix_conversation_active_handler", table_name="conversation")
