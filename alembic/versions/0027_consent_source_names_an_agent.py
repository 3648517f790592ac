"""the consent ledger's source can name an agent: agent:<email> fits

Revision ID: 0027
Revises: 0024
Create Date: 2026-11-30

An agent records an opt-out a customer asked for by another channel from the contacts page;
the ledger says who, as `agent:<their email>`, and an e-mail address is up to 254 characters.
`consent_event.source` grows from 40 to 300 characters. On PostgreSQL widening a varchar
rewrites nothing; SQLite rebuilds the table (its lengths are not enforced, but the schema
says the same as the models). Downgrading fails if a longer source has been stored.
"""

from collections.abc import Sequence

import sqlmodel

from alembic import op

revision: str = "0027"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _resize(40, 300)


def downgrade() -> None:
    _resize(300, 40)


def _resize(old: int, new: int) -> None:
    with op.batch_alter_table("consent_event") as batch:
        batch.alter_column(
            "source",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=old),
            type_=sqlmodel.sql.sqltypes.AutoString(length=new),
            existing_nullable=False,
        )
