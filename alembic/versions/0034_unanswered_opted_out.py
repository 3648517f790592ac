"""Open texts of people who opted out leave the assignment rounds' path

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-01

A STOP leaves the person's open texts in the inbox (marked opted out) until an agent marks them
done, and every assignment round with a slot to fill read past each of them again: on
PostgreSQL 7 ms of the server's a question at 3 000 such texts (bench/agent_queue.py
--then-stop). `opted_out_at` says when the sender opted out while the text was open; the rounds
read the queue by a partial index that leaves those texts out. Texts open now from people opted
out now get their row's last update (only whether it is set is ever read).
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_QUEUED = sa.text("handled_at IS NULL AND opted_out_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("unanswered_text") as table:
        table.add_column(sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE unanswered_text SET opted_out_at = ("
        " SELECT subscriber.updated_at FROM subscriber"
        " WHERE subscriber.id = unanswered_text.subscriber_id)"
        " WHERE handled_at IS NULL AND subscriber_id IN ("
        " SELECT id FROM subscriber WHERE status = 'unsubscribed')"
    )
    op.create_index(
        "ix_unanswered_text_queue",
        "unanswered_text",
        ["subscriber_id"],
        sqlite_where=_QUEUED,
        postgresql_where=_QUEUED,
    )


def downgrade() -> None:
    op.drop_index("ix_unanswered_text_queue", table_name="unanswered_text")
    with op.batch_alter_table("unanswered_text") as table:
        table.drop_column("opted_out_at")
