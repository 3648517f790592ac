"""ids of tables that grow with traffic become 64-bit on PostgreSQL

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02

Texts, consent entries, conversations, answers, step visits, events, login attempts, links,
clicks and unanswered texts gain rows with every message; a 32-bit id runs out at 2,147,483,647
and `after=9223372036854775807`, the API's documented maximum, was refused by the database.
PostgreSQL's ids (and the columns that point at them, and their sequences) become BIGINT.
SQLite's INTEGER PRIMARY KEY is already 64-bit, so nothing changes there.

On PostgreSQL each ALTER rewrites its table under an exclusive lock: on a large database, run
`bot db upgrade` in a quiet hour. Downgrading fails if an id has already passed 32 bits.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables whose `id` grows without bound, and the columns that point at one of those ids.
GROWING = (
    "message",
    "consent_event",
    "conversation",
    "unanswered_text",
    "answer",
    "step_visit",
    "event",
    "login_attempt",
    "link",
    "click",
)
POINTERS = (
    ("consent_event", "message_id", True),
    ("message", "in_reply_to_id", True),
    ("unanswered_text", "message_id", False),
    ("unanswered_text", "acknowledgement_id", True),
    ("answer", "conversation_id", False),
    ("step_visit", "conversation_id", False),
    ("link", "message_id", True),
    ("click", "link_id", False),
)


def upgrade() -> None:
    _retype(sa.Integer(), sa.BigInteger(), "bigint")


def downgrade() -> None:
    _retype(sa.BigInteger(), sa.Integer(), "integer")


def _retype(old: sa.types.TypeEngine, new: sa.types.TypeEngine, sequence_type: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in GROWING:
        op.alter_column(table, "id", existing_type=old, type_=new, existing_nullable=False)
        # The serial's sequence has its own type: left INTEGER, it would stop at 2**31 - 1.
        op.execute(f"ALTER SEQUENCE {table}_id_seq AS {sequence_type}")
    for table, column, nullable in POINTERS:
        op.alter_column(table, column, existing_type=old, type_=new, existing_nullable=nullable)
