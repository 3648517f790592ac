"""`bot` and gunicorn commands started warm: forked from a process that has imported Parley.

A `bot worker`, `bot clock` or gunicorn process spends ~0.8 s of CPU importing Parley and its
libraries before it does anything, and the process tests start 86 of them: 93 s of CPU, a
quarter of the suite's, measured; 26 s warm, fork server included. Here they are forked instead
from a fork server (the standard library's multiprocessing "forkserver", one per test process)
that imported the modules once. Each child is still a process of its own, with its own pid,
environment, database connections and signals, running the command's real entry point
(`bot.cli.main`, gunicorn's `run`), so the tests of processes against each other test the same
thing. What they no longer test is the cold start: the tests of start-up itself
(tests/process/test_cli.py, test_health.py, test_secret_key.py, test_architecture.py) start
real interpreters, and `test_warm_start.py` checks that a warm command prints and exits as a
cold one does.

Nothing is imported into the fork server that reads the environment or opens a database at
import: `webhook.py` (which makes the app) is left for each gunicorn worker to import.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any

from bot.testing.processes import ROOT

# What every warm command would import first; an ImportError here is ignored by the fork
# server, so tests/process/test_warm_start.py checks that each is in a child's sys.modules.
PRELOADED = [
    "bot.app",
    "bot.cli",
    "bot.cli.running",
    "bot.services",
    "bot.timers.scheduler",
    "gunicorn.app.wsgiapp",
    "gunicorn.workers.sync",
    "gunicorn.workers.gthread",
]

Output = Path | Connection | None  # a file to append to, a pipe's write end, or inherit


def _fork_server() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOADED)
    return context


def _entry_point(command: list[str]) -> tuple[list[str], Callable[[], Any]]:
    """The argv a cold start would see, and the function its executable would call."""
    name = Path(command[0]).name
    if name == "bot" or command[1:3] == ["-m", "bot"]:
        arguments = command[1:] if name == "bot" else command[3:]

        def bot() -> Any:
            from bot.cli import main

            return main(args=arguments, prog_name="bot")

        return [str(Path(sys.executable).with_name("bot")), *arguments], bot
    if name == "gunicorn":
        from gunicorn.app.wsgiapp import run

        return command, run
    raise ValueError(f"no warm start for {command[0]!r}: only `bot` and gunicorn commands")


def _become(
    command: list[str], env: Mapping[str, str], stdout: Output, stderr: Output | str
) -> None:
    """In the forked child: take the command's output files, environment and folder, then run
    its entry point; SystemExit ends the process with its code, as in a cold start."""
    for target, output in ((1, stdout), (2, stdout if stderr == "stdout" else stderr)):
        if isinstance(output, Path):
            descriptor = os.open(output, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            os.dup2(descriptor, target)
            os.close(descriptor)
        elif isinstance(output, Connection):
            os.dup2(output.fileno(), target)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(ROOT)
    # PYTHONUNBUFFERED is read when an interpreter starts; this one started long ago.
    sys.stdout.reconfigure(line_buffering=bool(env.get("PYTHONUNBUFFERED")))
    sys.argv, run = _entry_point(command)
    run()


class WarmProcess:
    """A warm-started command, with what tests use of subprocess.Popen."""

    def __init__(
        self,
        command: list[str],
        env: Mapping[str, str],
        *,
        stdout: Path | int | None = None,
        stderr: Path | int | None = None,
    ) -> None:
        """stdout and stderr: a file to write to, subprocess.PIPE (read as text) or, for
        stderr, subprocess.STDOUT; None inherits the test process's."""
        _entry_point(command)  # refuse a command it cannot start, here rather than in the child
        self.args = command
        self.stdout: IO[str] | None = None
        self.stderr: IO[str] | None = None
        self.log_path = stdout if isinstance(stdout, Path) else None
        ends: list[Connection] = []

        def output(spec: Path | int | None, attribute: str) -> Output:
            if spec != subprocess.PIPE:
                return spec if isinstance(spec, Path) else None
            reader, writer = multiprocessing.Pipe(duplex=False)
            setattr(self, attribute, open(os.dup(reader.fileno()), encoding="utf-8"))  # noqa: SIM115
            reader.close()
            ends.append(writer)
            return writer

        child_stdout = output(stdout, "stdout")
        child_stderr = "stdout" if stderr == subprocess.STDOUT else output(stderr, "stderr")
        self._process = _fork_server().Process(
            target=_become, args=(command, dict(env), child_stdout, child_stderr), daemon=True
        )
        self._process.start()
        for writer in ends:  # the child has its own copies: EOF comes when it exits
            writer.close()
        self.pid: int = self._process.pid or 0

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self._process.exitcode

    def communicate(
        self, input: None = None, timeout: float | None = None
    ) -> tuple[str | None, str | None]:
        """Wait for the exit, then read what it wrote to its pipes (ample for tests' output)."""
        self.wait(timeout)
        return tuple(  # type: ignore[return-value]
            stream.read() if stream else None for stream in (self.stdout, self.stderr)
        )

    def send_signal(self, signal_number: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal_number)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def warm_run(
    command: list[str], env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)."""
    process = WarmProcess(command, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(command, process.wait(), stdout, stderr)


def warm_start(command: list[str], env: dict[str, str], log_path: Path | None) -> WarmProcess:
    """bot.testing.processes' launcher: output to a new log file, or to a text pipe."""
    if log_path is None:
        return WarmProcess(command, env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log_path.write_bytes(b"")
    return WarmProcess(command, env, stdout=log_path, stderr=subprocess.STDOUT)
