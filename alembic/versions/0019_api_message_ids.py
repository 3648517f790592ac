"""texts an API client asks for: its id for each (one text per id) and the policy's decision

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-10

`POST /api/messages` takes the client's own id for a text, so a client may retry safely: the
same id again queues nothing and is answered as the first time. `message.external_id` keeps
that id, unique (a partial index over the rows that have one, so two requests with one id at
once cannot both queue a text), and `message.decision` keeps what the send policy decided when
the text was queued (queued, deferred until when and why, suppressed and why), which is the
answer a retry gets. Both columns are NULL on every other text; no existing row changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0019"
# After 0017 (outbound webhooks); the http step needed no migration, so there is no 0018.
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ADD COLUMN and CREATE INDEX on both databases: no copy of the message table.
    op.add_column(
        "message",
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    )
    op.add_column("message", sa.Column("decision", sa.JSON(), nullable=True))
    op.create_index(
        "ux_message_external_id",
        "message",
        ["external_id"],
        unique=True,
        sqlite_where=sa.text("external_id IS NOT NULL"),
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ux_message_external_id", table_name="message")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("decision")
        batch_op.drop_column("external_id")
