"""the inbox's team work: private notes, @mentions of colleagues, labels on conversations

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-30

`conversation_note` holds agents' notes (never texted); `note_mention` one row per colleague a
note names with `@name`, unread until they mark it read; `label` the labels admins create in
the inbox (the labels file's need no row); `conversation_label` a label on a conversation, by
name. New tables only: no existing row changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UNREAD = sa.text("read_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "conversation_note",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("conversation_id", ROW_ID, nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"]),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"]),
        sa.ForeignKeyConstraint(["agent_id"], ["agent.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_conversation_note_subscriber_id", "conversation_note", ["subscriber_id"])
    op.create_table(
        "note_mention",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("note_id", ROW_ID, nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["note_id"], ["conversation_note.id"]),
        sa.ForeignKeyConstraint(["agent_id"], ["agent.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ux_note_mention_note_agent", "note_mention", ["note_id", "agent_id"], unique=True
    )
    op.create_index(
        "ix_note_mention_unread",
        "note_mention",
        ["agent_id"],
        sqlite_where=UNREAD,
        postgresql_where=UNREAD,
    )
    op.create_table(
        "label",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["agent.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "conversation_label",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("conversation_id", ROW_ID, nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("added_by", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"]),
        sa.ForeignKeyConstraint(["added_by"], ["agent.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ux_conversation_label", "conversation_label", ["conversation_id", "label"], unique=True
    )
    op.create_index(
        "ix_conversation_label_label", "conversation_label", ["label", "conversation_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_conversation_label_label", table_name="conversation_label")
    op.drop_index("ux_conversation_label", table_name="conversation_label")
    op.drop_table("conversation_label")
    op.drop_table("label")
    op.drop_index("ix_note_mention_unread", table_name="note_mention")
    op.drop_index("ux_note_mention_note_agent", table_name="note_mention")
    op.drop_table("note_mention")
    op.drop_index("ix_conversation_note_subscriber_id", table_name="conversation_note")
    op.drop_table("conversation_note")
