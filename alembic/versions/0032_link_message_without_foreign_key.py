"""link.message_id loses its foreign key: a campaign's link rows are written with their texts

Revision ID: 0032
Revises: 0031
Create Date: 2026-11-30

`link.message_id` notes the first text a link went out in. It is written in the same
transaction as that text (with an id drawn for it), no message is ever deleted and nothing
reads the column to find a message, so the key guarded nothing; but PostgreSQL checked it for
every new link row (a look-up and a row lock on the message), about 3 ms of the server's time
for each 500-person campaign batch. The column and its values stay.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite's key was created without a name (0005): batch mode finds it by this convention.
_NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
_SQLITE_NAME = "fk_link_message_id_message"
_POSTGRESQL_NAME = "link_message_id_fkey"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("link", naming_convention=_NAMING) as batch:
            batch.drop_constraint(_SQLITE_NAME, type_="foreignkey")
    else:
        op.drop_constraint(_POSTGRESQL_NAME, "link", type_="foreignkey")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("link") as batch:
        batch.create_foreign_key(
            _SQLITE_NAME if sqlite else _POSTGRESQL_NAME, "message", ["message_id"], ["id"]
        )
