"""a flow's timer lives on its conversation row

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25

A paused flow waits at one step, so it has at most one timer (a `wait` or a question's
`timeout`). It moves from the `timer` table to `conversation.wakes_at` / `wake_kind`, where
setting or dropping it rides along with the turn's own update. Pending timers carry over (the
earliest per conversation); fired and cancelled ones were history nobody read.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("status = 'active'")
PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("wakes_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("wake_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch_op.create_index(
            "ix_conversation_active_wake",
            ["wakes_at"],
            unique=False,
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        )
    op.execute(
        """
        UPDATE conversation SET
          wakes_at = (SELECT MIN(t.due_at) FROM timer t
                      WHERE t.conversation_id = conversation.id AND t.status = 'pending'),
          wake_kind = (SELECT t.kind FROM timer t
                       WHERE t.conversation_id = conversation.id AND t.status = 'pending'
                       ORDER BY t.due_at LIMIT 1)
        WHERE status = 'active'
        """
    )
    with op.batch_alter_table("timer", schema=None) as batch_op:
        batch_op.drop_index("ix_timer_pending_due", sqlite_where=PENDING, postgresql_where=PENDING)
        batch_op.drop_index(batch_op.f("ix_timer_conversation_id"))
    op.drop_table("timer")


def downgrade() -> None:
    op.create_table(
        "timer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("step", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending", "fired", "cancelled", name="timerstatus", native_enum=False, length=10
            ),
            nullable=False,
        ),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("timer", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_timer_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index(
            "ix_timer_pending_due",
            ["due_at"],
            unique=False,
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        )
    op.execute(
        """
        INSERT INTO timer (conversation_id, kind, step, due_at, status)
        SELECT id, wake_kind, step, wakes_at, 'pending' FROM conversation
        WHERE status = 'active' AND wakes_at IS NOT NULL
        """
    )
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_conversation_active_wake", sqlite_where=ACTIVE, postgresql_where=ACTIVE
        )
        batch_op.drop_column("wake_kind")
        batch_op.drop_column("wakes_at")
