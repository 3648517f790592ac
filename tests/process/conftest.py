"""Fixtures of the process tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.databases import SqliteTemplate


@pytest.fixture
def sqlite_url(sqlite_template: SqliteTemplate, tmp_path: Path) -> str:
    """A SQLite file as `bot db upgrade` leaves it: the template is made by the same upgrade,
    secret key included, without a process of its own (a second of CPU each)."""
    return sqlite_template.fresh(tmp_path)
