"""What every `bot` command shares: the group, settings, logging, the schema check, CSV output."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

import click
from sqlalchemy.engine import Engine

from bot.settings import ConfigError, Settings, load_settings
from bot.store.models import utcnow

if TYPE_CHECKING:
    pass


EXPORT_PROGRESS_EVERY = 10_000  # rows between progress lines when exporting to a file
clock = utcnow  # commands that need no services run on the default clock: the wall's


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Libraries that log every tick or request at INFO: our own lines say what matters.
    for chatty in ("apscheduler", "twilio.http_client"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def require_migrated(settings: Settings, *, writes: bool = True) -> None:
    """Stop with one line naming the cause unless the database is ready (and takes writes)."""
    from bot.store.schema import schema_problem

    problem = schema_problem(settings.DATABASE_URL, writes=writes)
    if problem:
        raise click.ClickException(problem.message())


@click.group()
@click.version_option(package_name="parley")
def main() -> None:
    """Parley: two-way SMS conversations between a brand and its customers."""


def write_export(
    header: Iterable[str],
    rows: Iterable[Iterable[object]],
    output: Path | None,
    *,
    noun: str,
) -> None:
    """Write a CSV export (header, then rows) to `output`, or to stdout when it is None.

    A file is replaced only once the export is complete, with progress every
    EXPORT_PROGRESS_EVERY rows; every cell goes through the spreadsheet's inert writer.
    """
    if output is None:
        _write_csv_to_stdout(header, rows)
        return
    try:
        with _replaced_atomically(output) as stream:
            count = _write_csv(stream, header, rows, noun=noun)
    except OSError as error:
        raise click.ClickException(f"cannot write {output}: {error}") from None
    click.echo(f"wrote {count} {noun} to {output}", err=True)


def _write_csv(
    stream: IO[str],
    header: Iterable[str],
    rows: Iterable[Iterable[object]],
    *,
    noun: str | None,
) -> int:
    """Write the header and the rows; returns how many rows were written."""
    from bot.domain.spreadsheet import csv_writer

    writer = csv_writer(stream)
    writer.writerow(header)
    count = 0
    for count, row in enumerate(rows, start=1):
        writer.writerow(row)
        if noun and count % EXPORT_PROGRESS_EVERY == 0:
            click.echo(f"{count} {noun}…", err=True)
    return count


def _write_csv_to_stdout(header: Iterable[str], rows: Iterable[Iterable[object]]) -> None:
    import os

    try:
        _write_csv(sys.stdout, header, rows, noun=None)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (`| head`) went away: stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


@contextlib.contextmanager
def _replaced_atomically(path: Path) -> Iterator[IO[str]]:
    """A temporary file next to `path` that becomes `path` only if the block succeeds.

    A symlink is followed (its target is replaced, the link stays); anything but a regular
    file (a device such as /dev/full, a fifo, a folder) is refused rather than replaced.
    """
    import os
    import tempfile

    path = path.resolve() if path.is_symlink() else path
    if path.exists() and not path.is_file():
        raise click.ClickException(f"cannot write {path}: it is not a regular file")
    with tempfile.NamedTemporaryFile(
        "w",
        encoding="utf-8",
        newline="",
        dir=path.parent,
        prefix=f".{path.name}.",
        suffix=".tmp",
        delete=False,
    ) as handle:
        temporary = Path(handle.name)
        try:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            os.replace(temporary, path)
        except BaseException:
            handle.close()
            temporary.unlink(missing_ok=True)
            raise


def redacted(database_url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(database_url).render_as_string(hide_password=True)


def migrated_db(*, writes: bool = True) -> tuple[Settings, Engine]:
    """The settings and the db of a database at the newest migration (else a clear error)."""
    from bot.store.db import make_db

    settings = settings_or_exit()
    require_migrated(settings, writes=writes)
    return settings, make_db(settings.DATABASE_URL)
