"""gunicorn settings for bench/inbound.py: each worker says when it has loaded the app.

The port opens before the workers have imported the app, which on a busy machine takes
seconds: the benchmark waits for one file per worker in $PARLEY_BENCH_READY_DIR instead.

With $PARLEY_BENCH_DATABASE_PER_WORKER set (`bench/inbound.py --database-per-worker`), each
worker gets a copy of the migrated SQLite file of its own before it loads the app: a diagnostic
of what sharing one file between processes costs, never a deployment (each worker would keep
its own customers). The copies start from the file as migrated, so they hold only their own
round's texts, half each; the shared file of an ordinary run keeps earlier rounds' too.
"""

import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

SQLITE_PREFIX = "sqlite:///"


def post_fork(_server: Any, worker: Any) -> None:
    """Before the worker imports the app: point it at a database file of its own, if asked."""
    url = os.environ.get("DATABASE_URL", "")
    if not os.environ.get("PARLEY_BENCH_DATABASE_PER_WORKER") or not url.startswith(SQLITE_PREFIX):
        return
    shared = url.removeprefix(SQLITE_PREFIX)
    own = f"{shared}.worker-{worker.age}"
    # SQLite's backup, not a file copy: it also takes what is still in the write-ahead log.
    with closing(sqlite3.connect(shared)) as source, closing(sqlite3.connect(own)) as copy:
        source.backup(copy)
    os.environ["DATABASE_URL"] = SQLITE_PREFIX + own


def post_worker_init(worker: Any) -> None:
    """Leave a file named after the worker's pid once it can answer."""
    (Path(os.environ["PARLEY_BENCH_READY_DIR"]) / str(worker.pid)).touch()
