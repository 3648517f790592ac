"""bench/inbound.py's CPU figure: the CPU a process group has spent, read from /proc."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.inbound import server_cpu_seconds

# Burns a fixed amount of CPU, says so, then waits (not spinning) until its stdin closes.
BUSY_THEN_IDLE = "sum(i * i for i in range(10_000_000)); print('done', flush=True); input()"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads Linux's /proc")
def test_the_cpu_a_process_group_spent_is_counted_and_no_other_group_s() -> None:
    busy = subprocess.Popen(
        [sys.executable, "-c", BUSY_THEN_IDLE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a group of its own, as bench/inbound.py starts gunicorn
    )
    try:
        assert busy.stdout is not None and busy.stdout.readline() == "done\n"
        spent = server_cpu_seconds(busy.pid)
        idle = subprocess.Popen([sys.executable, "-c", "input()"], stdin=subprocess.PIPE,
                                start_new_session=True)  # fmt: skip
        try:
            assert server_cpu_seconds(idle.pid) < spent  # only its own start-up counted
        finally:
            idle.communicate("")
    finally:
        busy.communicate("")
    # Ten million squares take Python well over a tenth of a second of CPU on any machine.
    assert spent is not None and spent > 0.1
