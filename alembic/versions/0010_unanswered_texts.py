"""texts no step could take wait for a human in their own table

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27

Before, a text no flow wanted opened an "inbox" conversation waiting for an agent. It could not
exist beside the conversation of a flow in progress (one active conversation per person), so a
text sent while a flow waited was dropped; and a keyword later ended it, question unanswered.
Those still waiting move to the new table, with the person's latest text; their conversations
end. Downgrading drops the table (what was in the queue is not put back as conversations).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("handled_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "unanswered_text",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("flow", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("step", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("context", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column("acknowledgement_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handled_by", sa.Integer(), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.ForeignKeyConstraint(["acknowledgement_id"], ["message.id"]),
        sa.ForeignKeyConstraint(["handled_by"], ["agent.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"]),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    with op.batch_alter_table("unanswered_text", schema=None) as batch_op:
        batch_op.create_index(
            "ix_unanswered_text_open",
            ["subscriber_id"],
            unique=False,
            sqlite_where=OPEN,
            postgresql_where=OPEN,
        )
    op.execute(
        """
        INSERT INTO unanswered_text (message_id, subscriber_id, phone, context, created_at)
        SELECT m.id, c.subscriber_id, c.phone,
               COALESCE(c.handoff_reason, 'the bot did not understand'), m.created_at
        FROM conversation c
        JOIN message m ON m.id = (SELECT MAX(id) FROM message
                                  WHERE phone = c.phone AND direction = 'inbound')
        WHERE c.flow = 'inbox' AND c.status = 'active' AND c.handled_by = 'waiting_for_agent'
        """
    )
    op.execute(
        """
        UPDATE conversation
        SET status = 'ended', end_reason = 'moved to the queue', ended_at = updated_at
        WHERE flow = 'inbox' AND status = 'active' AND handled_by = 'waiting_for_agent'
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("unanswered_text", schema=None) as batch_op:
        batch_op.drop_index("ix_unanswered_text_open", sqlite_where=OPEN, postgresql_where=OPEN)
    op.drop_table("unanswered_text")
