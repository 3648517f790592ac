"""The inbox's files beside the flows (saved replies, labels), reloaded when they change.

A broken file is logged (file:line) and its last good version stays in force, as with flows;
no file at all means none (no saved replies, no labels from the file).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from bot.engine.conversation_labels import LABELS_FILE, LabelsFile, parse_labels
from bot.engine.problems import Problem
from bot.engine.saved_replies import REPLIES_FILE, RepliesFile, parse_replies

log = logging.getLogger(__name__)


class _Checked(Protocol):
    file: str
    problems: list[Problem]


Parsed = TypeVar("Parsed", bound=_Checked)


def read_checked(path: Path, parse: Callable[[str, str], Parsed]) -> Parsed:
    """The file read and checked; a file that cannot be read is one problem on line 1."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as error:
        parsed = parse("{}", str(path))
        parsed.problems[:] = [Problem(str(path), 1, f"cannot read: {error}")]
        return parsed
    if not text.strip():
        text = "{}"  # no file, or an empty one: nothing in it, and nothing wrong
    return parse(text, str(path))


class FileInForce(Generic[Parsed]):
    """One file's last good version, read again when its size or time stamp changes."""

    def __init__(self, path: Path, parse: Callable[[str, str], Parsed]) -> None:
        self.path = path
        self.parse = parse
        self._stamp: tuple[int, int] | None = None
        self._good: Parsed = parse("{}", str(path))  # none until the file is read
        self._lock = threading.Lock()

    def current(self) -> Parsed:
        """The version in force, after reading the file again if it changed."""
        with self._lock:
            stamp = _stamp(self.path)
            if stamp != self._stamp:
                self._stamp = stamp
                self._load()
            return self._good

    def _load(self) -> None:
        parsed = read_checked(self.path, self.parse)
        if not parsed.problems:
            self._good = parsed
            return
        for problem in parsed.problems:
            log.error("%s not reloaded: %s", self.path.name, problem)
        log.warning("%s: keeping its last good version", self.path)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (0, 0)
    return (stat.st_mtime_ns, stat.st_size)


def check_replies(flows_dir: Path) -> RepliesFile:
    """The folder's replies file, read and checked (`bot flows check`)."""
    return read_checked(flows_dir / REPLIES_FILE, parse_replies)


def check_labels(flows_dir: Path) -> LabelsFile:
    """The folder's labels file, read and checked (`bot flows check`)."""
    return read_checked(flows_dir / LABELS_FILE, parse_labels)


def saved_replies(flows_dir: Path) -> FileInForce[RepliesFile]:
    """The saved replies in force for a long-running process."""
    return FileInForce(flows_dir / REPLIES_FILE, parse_replies)


def file_labels(flows_dir: Path) -> FileInForce[LabelsFile]:
    """The labels file in force for a long-running process."""
    return FileInForce(flows_dir / LABELS_FILE, parse_labels)
