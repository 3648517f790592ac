"""agent sessions on the server, and settings every process shares

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01

`agent_session` makes a logout (and a password change, disabling an agent, "log out everywhere")
end a session at once: the cookie carries a random token, the row its hash. `setting` holds the
SECRET_KEY that `bot db upgrade` generates when none is set, so every process signs alike.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("user_agent", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("remote_addr", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agent.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("agent_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_session_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_agent_session_token_hash"), ["token_hash"], unique=True
        )

    op.create_table(
        "setting",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("setting")
    with op.batch_alter_table("agent_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_session_token_hash"))
        batch_op.drop_index(batch_op.f("ix_agent_session_agent_id"))
    op.drop_table("agent_session")
