"""bench/inbound.py --database-per-worker: each gunicorn worker writes a copy of its own."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.gunicorn_ready import post_fork


def _shared_file_with_a_row_in_its_log(path: Path) -> sqlite3.Connection:
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE message (body TEXT)")
    writer.execute("PRAGMA wal_autocheckpoint=0")  # the row stays in the write-ahead log
    writer.execute("INSERT INTO message VALUES ('HELP')")
    return writer  # kept open: closing the last connection would checkpoint the log


def test_each_worker_gets_a_copy_of_its_own_with_what_the_log_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "bench.db"
    writer = _shared_file_with_a_row_in_its_log(shared)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{shared}")
    monkeypatch.setenv("PARLEY_BENCH_DATABASE_PER_WORKER", "1")
    try:
        post_fork(None, SimpleNamespace(age=2))
    finally:
        writer.close()
    own = Path(f"{shared}.worker-2")
    assert Path(os.environ["DATABASE_URL"].removeprefix("sqlite:///")) == own
    with sqlite3.connect(own) as copy:
        assert copy.execute("SELECT body FROM message").fetchall() == [("HELP",)]


def test_without_the_option_every_worker_shares_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/bench.db"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("PARLEY_BENCH_DATABASE_PER_WORKER", raising=False)
    post_fork(None, SimpleNamespace(age=1))
    assert os.environ["DATABASE_URL"] == url
    assert list(tmp_path.iterdir()) == []
