"""`bot` and gunicorn commands started warm: forked from a process that has imported Parley.

A `bot worker`, `bot clock` or gunicorn process spends ~0.8 s of CPU importing Parley and its
libraries before it does anything, and the process tests start 86 of them: 93 s of CPU, a
quarter of the suite's, measured; 26 s warm, fork server included. Here they are forked instead
from a fork server (the standard library's multiprocessing "forkserver", one per test process)
that imported Parley's modules once. Each child is still a process of its own, with its own pid,
environment, `sys.path`, working folder, database connections and signals, running the
command's real entry point (`bot.cli.main`, gunicorn's `run`), so the tests of processes against
each other test the same thing. What they no longer test is the cold start: the tests of start-up
itself (tests/process/test_cli.py, test_health.py, test_secret_key.py, test_architecture.py)
start real interpreters, and `test_warm_start.py` checks that a warm command prints and exits as
a cold one does.

What a warm child shares with its fork server, unlike a cold start: the modules in PRELOADED
(none reads the environment when imported; gunicorn does, so it is left out and each child
imports it), already out of the garbage collector's reach (tests/support/preloads_frozen.py:
where a cold process freezes them with its app, at freeze_start_up), the hash seed, and the
interpreter's start-up options (PYTHONUNBUFFERED is applied again; PYTHONHASHSEED,
PYTHONWARNINGS and the like in `env` are not).
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any

from bot.testing.processes import BIN, ROOT

# Imported once by the fork server. It skips a name it cannot import without a word, so
# tests/process/test_warm_start.py imports each.
PRELOADED = ["bot.app", "bot.cli", "bot.cli.running", "bot.services", "bot.timers.scheduler"]
# Then what they made is frozen (imported last, and only there: it freezes whoever imports it).
FREEZES_PRELOADS = "tests.support.preloads_frozen"

# Where a child's stdout or stderr goes: a file to append to, a pipe's write end, or the fork
# server's own (None); subprocess.STDOUT sends stderr where stdout goes.
Output = Path | Connection | None


def _fork_server() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([*PRELOADED, FREEZES_PRELOADS])
    return context


@functools.cache
def _installed_path() -> tuple[str, ...]:
    """sys.path of a new interpreter, after its first entry (the script's folder): the standard
    library and site-packages, without the folders pytest put in front."""
    probe = [sys.executable, "-c", "import json, sys; print(json.dumps(sys.path[1:]))"]
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    return tuple(json.loads(subprocess.check_output(probe, env=env, cwd="/", text=True)))


def _entry_point(command: list[str]) -> tuple[list[str], str, Callable[[], Any]]:
    """The argv a cold start would see, its sys.path[0], and what its executable calls."""
    name = Path(command[0]).name
    if name == "bot" or command[:3] == [sys.executable, "-m", "bot"]:
        arguments = command[1:] if name == "bot" else command[3:]
        # A console script's folder leads sys.path; `python -m` puts the working folder first.
        first = str(BIN) if name == "bot" else str(ROOT)

        def bot() -> Any:
            from bot.cli import main

            return main(args=arguments, prog_name="bot")

        return [str(BIN / "bot"), *arguments], first, bot
    if name == "gunicorn":

        def gunicorn() -> Any:
            from gunicorn.app.wsgiapp import run

            return run()

        return command, str(BIN), gunicorn
    raise ValueError(f"no warm start for {command[0]!r}: only `bot` and gunicorn commands")


def _take_output(stdout: Output, stderr: Output | int) -> None:
    """Point fds 1 and 2 where the command's output goes, buffered as a new interpreter's."""
    for descriptor, output in ((1, stdout), (2, stderr)):
        if output == subprocess.STDOUT:
            os.dup2(1, 2)
        elif isinstance(output, Path):
            opened = os.open(output, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            os.dup2(opened, descriptor)
            os.close(opened)
        elif isinstance(output, Connection):
            os.dup2(output.fileno(), descriptor)
            output.close()  # only fds 1 and 2, as after a cold start's exec
    # PYTHONUNBUFFERED is read when an interpreter starts; this one started long ago.
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    for stream in (sys.stdout, sys.stderr):  # stderr is line-buffered in any interpreter
        line_buffering = unbuffered or stream is sys.stderr
        stream.reconfigure(line_buffering=line_buffering, write_through=unbuffered)  # type: ignore[attr-defined]


def _become(
    command: list[str],
    env: Mapping[str, str],
    installed_path: tuple[str, ...],
    stdout: Output,
    stderr: Output | int,
) -> None:
    """In the forked child: take the command's environment, folder, sys.path and output, then
    run its entry point, ending as a cold interpreter would."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(ROOT)
    _take_output(stdout, stderr)
    sys.argv, first, run = _entry_point(command)
    extra = [folder for folder in env.get("PYTHONPATH", "").split(os.pathsep) if folder]
    sys.path[:] = [first, *extra, *installed_path]
    try:
        run()
    except KeyboardInterrupt:  # a cold interpreter prints it, then ends by SIGINT: -2
        traceback.print_exc()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except Exception:  # a traceback, as the interpreter prints it, and exit status 1
        sys.excepthook(*sys.exc_info())
        sys.exit(1)


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
        stderr, subprocess.STDOUT; None leaves the fork server's own."""
        _entry_point(command)  # refuse a command it cannot start, here rather than in the child
        self.args = command
        self.log_path = stdout if isinstance(stdout, Path) else None
        self.stdout, child_stdout = _pipe_if_asked(stdout)
        self.stderr, child_stderr = (
            (None, subprocess.STDOUT) if stderr == subprocess.STDOUT else _pipe_if_asked(stderr)
        )
        self._process = _fork_server().Process(
            target=_become,
            args=(command, dict(env), _installed_path(), child_stdout, child_stderr),
            daemon=True,
        )
        self._process.start()
        self._drains: list[_Drain] | None = None
        for end in (child_stdout, child_stderr):  # the child has its own: EOF when it exits
            if isinstance(end, Connection):
                end.close()
        assert self._process.pid is not None  # set by start()
        self.pid: int = self._process.pid

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
        """Read the pipes to their end while waiting for the exit, as Popen does."""
        if self._drains is None:  # once: a second call after a timeout reads on
            self._drains = [_Drain(stream) for stream in (self.stdout, self.stderr)]
        self.wait(timeout)
        stdout, stderr = (drain.text() for drain in self._drains)
        return stdout, stderr

    def send_signal(self, signal_number: int) -> None:
        # The fork server may have reaped it a moment before poll() hears: as Popen, no error.
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal_number)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _pipe_if_asked(spec: Path | int | None) -> tuple[IO[str] | None, Output]:
    """(what the test reads, what the child writes to) for one of stdout and stderr."""
    if spec != subprocess.PIPE:
        return None, spec if isinstance(spec, Path) else None
    reader, writer = multiprocessing.Pipe(duplex=False)
    readable = open(os.dup(reader.fileno()), encoding="utf-8")  # noqa: SIM115 (closed by _Drain)
    reader.close()
    return readable, writer


class _Drain:
    """Reads a pipe to its end on a thread, so a child that writes a lot never blocks on it."""

    def __init__(self, stream: IO[str] | None) -> None:
        self._chunks: list[str] = []
        self._stream = stream
        self._thread = threading.Thread(target=self._read, daemon=True)
        if stream is not None:
            self._thread.start()

    def _read(self) -> None:
        assert self._stream is not None
        with self._stream:
            self._chunks.append(self._stream.read())

    def text(self) -> str | None:
        if self._stream is None:
            return None
        self._thread.join()
        return "".join(self._chunks)


def warm_run(
    command: list[str], env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)."""
    process = WarmProcess(command, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as hung:
        process.kill()  # as subprocess.run does, with what it printed on the exception
        hung.stdout, hung.stderr = process.communicate()
        raise
    return subprocess.CompletedProcess(command, process.wait(), stdout, stderr)


def warm_start(command: list[str], env: dict[str, str], log_path: Path | None) -> WarmProcess:
    """bot.testing.processes' launcher: output to a new log file, or to a text pipe."""
    if log_path is None:
        return WarmProcess(command, env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log_path.write_bytes(b"")
    return WarmProcess(command, env, stdout=log_path, stderr=subprocess.STDOUT)
