"""Is the database's schema the one this code expects?"""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import SQLAlchemyError

from bot.db import make_engine
from bot.migrate import current_head


def schema_problem(database_url: str) -> str | None:
    """None when the database is at the newest migration, else what is wrong."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as error:
        return f"cannot open the database: {error.__class__.__name__}: {error.args[0]}"
    finally:
        engine.dispose()
    head = current_head()
    if revision is None:
        return "the database has no tables yet"
    if revision != head:
        return f"the database is at revision {revision}, the code expects {head}"
    return None
