"""Scratch SQLite databases in a temporary folder, migrated once: what `bot flows test` and
`bot chat` play on, so that trying a flow never touches the service's own data."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

from bot.store.migrate import upgrade


class ScratchDatabases:
    """A temporary folder with a migrated template database; `fresh()` copies it."""

    def __init__(self, prefix: str) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix=prefix))
        self.template = self.folder / "template.db"
        upgrade(f"sqlite:///{self.template}")

    def fresh(self) -> Path:
        """A new database file, migrated and empty (a copy is much faster than migrating)."""
        database = self.folder / f"{uuid.uuid4().hex}.db"
        shutil.copyfile(self.template, database)
        return database

    def close(self) -> None:
        """Remove the folder and every database in it."""
        shutil.rmtree(self.folder, ignore_errors=True)
