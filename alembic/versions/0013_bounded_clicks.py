"""a bounded record of clicks: a count and the last click on each link

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

One short link fetched 200 times added 200 click rows. A link now counts its clicks in
`link.clicks` and notes `link.last_clicked_at`: a repeat within a minute of the last counted
click counts once, which one conditional UPDATE decides, and the click rows it keeps are
bounded per link. Existing clicks are counted into the new columns.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("link", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clicks", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("last_clicked_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE link SET"
        " clicks = (SELECT count(*) FROM click WHERE click.link_id = link.id),"
        " last_clicked_at = (SELECT max(clicked_at) FROM click WHERE click.link_id = link.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("link", schema=None) as batch_op:
        batch_op.drop_column("last_clicked_at")
        batch_op.drop_column("clicks")
