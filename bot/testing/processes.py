"""Run Parley as a user does: real processes on free local ports (for tests and benchmarks)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol

from bot.twilio.fake_server import FakeTwilioServer

ROOT = Path(__file__).resolve().parents[2]  # the repository: flows/, actions/, webhook.py
BIN = Path(sys.executable).parent
# How long a wait on a child may last before the run counts as hung: a safety net, never a
# measure. With every core busy (load 18 on 2 cores) one `bot` start-up took over 60 s.
HUNG_AFTER = 600.0


class Child(Protocol):
    """What the helpers here and their callers use of a started process: subprocess.Popen's
    methods (the tests' warm-started processes have them too)."""

    args: Any
    pid: int
    stdout: IO[Any] | None

    @property
    def returncode(self) -> int | None: ...
    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def communicate(self, input: Any = None, timeout: float | None = None) -> tuple[Any, Any]: ...
    def send_signal(self, sig: int) -> None: ...
    def terminate(self) -> None: ...
    def kill(self) -> None: ...


# Starts `command` in `env` from ROOT, its output to a log file or (None) to a text pipe.
Launcher = Callable[[list[str], dict[str, str], Path | None], Child]


def cold_start(command: list[str], env: dict[str, str], log_path: Path | None) -> Child:
    """A new interpreter, as a user's shell starts one."""
    if log_path is None:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    with log_path.open("wb") as log:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(base_url: str, process: Child, timeout: float = HUNG_AFTER) -> None:
    """Poll /healthz until it answers 200, or fail with what the process printed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"server exited with {process.returncode}:\n{output}")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise AssertionError(f"{base_url} did not become healthy in {timeout} s")


@contextmanager
def running(
    command: list[str], env: dict[str, str], base_url: str, launch: Launcher = cold_start
) -> Iterator[Child]:
    """Start a server process, wait for it to be healthy, and stop it afterwards."""
    process = launch(command, env, None)
    try:
        wait_until_healthy(base_url, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def twilio_environment(
    database_url: str, twilio: FakeTwilioServer, *, brand: str, sender: str, send_rate: int
) -> dict[str, str]:
    """The environment of a Parley process that sends through the fake Twilio server; none of
    the developer's own Twilio, database or sending settings leak in."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TWILIO_", "DATABASE_URL", "PUBLIC_URL", "GATEWAY", "SEND_"))
    }
    return {
        **inherited,
        "DATABASE_URL": database_url,
        "BRAND_NAME": brand,
        "GATEWAY": "twilio",
        "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_FROM": sender,
        "TWILIO_API_URL": twilio.base_url,
        "SEND_RATE": str(send_rate),
    }


def post_form(
    url: str, form: dict[str, str], headers: dict[str, str] | None = None
) -> tuple[int, str]:
    """POST a form and return (status, body), error statuses included."""
    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@contextmanager
def started(
    command: list[str], env: dict[str, str], log_path: Path, launch: Launcher = cold_start
) -> Iterator[Child]:
    """A long-running child (a worker, a clock) writing its log to a file; killed if still up."""
    process = launch(command, env, log_path)
    process.log_path = log_path  # type: ignore[attr-defined]
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_until(
    condition: Callable[[], bool],
    processes: Sequence[Child],
    *,
    what: str,
    timeout: float = HUNG_AFTER,
) -> None:
    """Wait for `condition`, failing early with a child's log if one of `processes` died.

    The timeout is a safety net for a hung run, far beyond what a busy machine needs.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        for process in processes:
            if process.poll() is not None:
                raise AssertionError(
                    f"{process.args!r} exited with {process.returncode} while waiting for {what}:\n"
                    + _log_of(process)
                )
        if time.monotonic() > deadline:
            logs = "\n".join(_log_of(process) for process in processes)
            raise AssertionError(f"still waiting for {what} after {timeout} s:\n{logs}")
        time.sleep(0.005)


def _log_of(process: Child) -> str:
    log_path = getattr(process, "log_path", None)
    return log_path.read_text(errors="replace")[-5000:] if log_path else ""
