"""webhooks Shopify delivered, kept once per webhook id until their work is done

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03

`POST /shopify/webhooks` stores each delivery here before it answers, keyed by
X-Shopify-Webhook-Id (a retry by Shopify changes nothing), and does its work after the answer:
a web process right away, the clock again if that process died or the work failed
(`next_attempt_at`, a partial index over the pending rows). The body is kept only until then.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "shopify_webhook",
        sa.Column("id", ROW_ID, nullable=False),
        sa.Column("webhook_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("shop_domain", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "done",
                "ignored",
                "failed",
                name="shopifywebhookstatus",
                native_enum=False,
                length=8,
            ),
            nullable=False,
        ),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("checkout_token", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("webhook_id"),
    )
    with op.batch_alter_table("shopify_webhook", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shopify_webhook_checkout_token"), ["checkout_token"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_shopify_webhook_phone"), ["phone"], unique=False)
        batch_op.create_index(
            "ix_shopify_webhook_due",
            ["next_attempt_at"],
            unique=False,
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        )


def downgrade() -> None:
    with op.batch_alter_table("shopify_webhook", schema=None) as batch_op:
        batch_op.drop_index("ix_shopify_webhook_due")
        batch_op.drop_index(batch_op.f("ix_shopify_webhook_phone"))
        batch_op.drop_index(batch_op.f("ix_shopify_webhook_checkout_token"))
    op.drop_table("shopify_webhook")
