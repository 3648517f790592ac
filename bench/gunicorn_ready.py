"""gunicorn settings for bench/inbound.py: each worker says when it has loaded the app.

The port opens before the workers have imported the app, which on a busy machine takes
seconds: the benchmark waits for one file per worker in $PARLEY_BENCH_READY_DIR instead.
"""

import os
from pathlib import Path
from typing import Any


def post_worker_init(worker: Any) -> None:
    """Leave a file named after the worker's pid once it can answer."""
    (Path(os.environ["PARLEY_BENCH_READY_DIR"]) / str(worker.pid)).touch()
