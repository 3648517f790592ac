"""What the repository must never carry: virtual environments, databases, secrets files."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.support.paths import ROOT

NEVER_TRACKED = (".venv", "venv", ".env")
NEVER_TRACKED_SUFFIXES = (".db", ".db-wal", ".db-shm", ".sqlite3")


def test_no_virtual_environment_database_or_env_file_is_tracked() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (an unpacked release, say)")
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    offending = [
        path
        for path in tracked
        if path.split("/")[0] in NEVER_TRACKED or path.endswith(NEVER_TRACKED_SUFFIXES)
    ]
    assert offending == [], f"tracked, and never should be: {offending}"
