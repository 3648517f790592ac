"""outbound webhooks: an event outbox, its deliveries, and the e-mail address in the profile

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04

`webhook_event` holds what outbound webhooks tell (a person subscribed, opted out, answered …),
written in the transaction of the change it tells of; the worker routes each to the endpoints
that want it as `webhook_delivery` rows, posts them in order per person and retries with backoff.
`subscriber.email` keeps the address a flow's `expect: email` question collected.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PENDING = sa.text("status = 'pending'")
UNROUTED = sa.text("routed_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True)
        )
    op.create_table(
        "webhook_event",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("routed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("webhook_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_event_phone"), ["phone"], unique=False)
        batch_op.create_index(
            "ix_webhook_event_unrouted",
            ["id"],
            unique=False,
            sqlite_where=UNROUTED,
            postgresql_where=UNROUTED,
        )
        batch_op.create_index(
            "ix_webhook_event_unrouted_phone",
            ["phone", "id"],
            unique=False,
            sqlite_where=UNROUTED,
            postgresql_where=UNROUTED,
        )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("event_id", ROW_ID, nullable=False),
        sa.Column("endpoint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "delivered",
                "gave_up",
                "dropped",
                name="deliverystatus",
                native_enum=False,
                length=12,
                create_constraint=False,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retrying_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["webhook_event.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_delivery_pending",
            ["event_id"],
            unique=False,
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        )
        batch_op.create_index(
            "ix_webhook_delivery_queue",
            ["endpoint", "phone", "event_id"],
            unique=False,
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        )
        batch_op.create_index(
            "ux_webhook_delivery_event_endpoint", ["event_id", "endpoint"], unique=True
        )


def downgrade() -> None:
    op.drop_table("webhook_delivery")
    op.drop_table("webhook_event")
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.drop_column("email")
