"""Count the SQL statements a db runs: a page or a tick that should not query per row."""

from __future__ import annotations

from sqlalchemy import Engine, event


class StatementCounter:
    """Counts the statements `db` sends to the database from now on."""

    def __init__(self, db: Engine) -> None:
        self.count = 0
        self._db = db
        event.listen(db, "before_cursor_execute", self._seen)

    def stop(self) -> None:
        """Count no more."""
        event.remove(self._db, "before_cursor_execute", self._seen)

    def _seen(self, *_args: object) -> None:
        self.count += 1
