"""assignment: agents available or away, their capacity, and who answers whom

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-30

`agent` gains `available` (the agent's toggle; everyone starts away), `capacity` (open chats
round robin may give them; 5) and `last_assigned_at`. `assignment` holds, per person who needs
a human, the agent who answers them. Existing rows: agents away with capacity 5, nobody assigned.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agent") as batch:
        batch.add_column(
            sa.Column("available", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("capacity", sa.Integer(), nullable=False, server_default="5"))
        batch.add_column(sa.Column("last_assigned_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "assignment",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("by_hand", sa.Boolean(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agent.id"]),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"]),
        sa.PrimaryKeyConstraint("subscriber_id"),
    )
    op.create_index("ix_assignment_agent_id", "assignment", ["agent_id"])


def downgrade() -> None:
    op.drop_index("ix_assignment_agent_id", table_name="assignment")
    op.drop_table("assignment")
    with op.batch_alter_table("agent") as batch:
        batch.drop_column("last_assigned_at")
        batch.drop_column("capacity")
        batch.drop_column("available")
