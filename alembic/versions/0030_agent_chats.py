"""agent chats: a person's time with the agents, for the reports and the CSAT question

Revision ID: 0030
Revises: 0029
Create Date: 2026-11-30

`agent_chat` holds one row per stretch a person spends with the agents: when they were queued,
who took the chat and when, the agent's first reply, when it went back to the bot (or was
marked done), and the rating question asked on hand-back. A new table: no existing row
changes; chats before it are not in the reports.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "agent_chat",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", ROW_ID, nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_reply_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("csat_conversation_id", ROW_ID, nullable=True),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"]),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"]),
        sa.ForeignKeyConstraint(["agent_id"], ["agent.id"]),
        sa.ForeignKeyConstraint(["csat_conversation_id"], ["conversation.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_agent_chat_queued_at", "agent_chat", ["queued_at"])
    op.create_index(
        "ix_agent_chat_open",
        "agent_chat",
        ["subscriber_id"],
        sqlite_where=sa.text("closed_at IS NULL"),
        postgresql_where=sa.text("closed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_agent_chat_open", table_name="agent_chat")
    op.drop_index("ix_agent_chat_queued_at", table_name="agent_chat")
    op.drop_table("agent_chat")
