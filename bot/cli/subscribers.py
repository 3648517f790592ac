"""Subscribers in bulk: bot subscribers import/export/show/erase."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.common import (
    clock,
    main,
    migrated_db,
    write_export,
)
from bot.settings import Settings

if TYPE_CHECKING:
    pass


@main.group()
def subscribers() -> None:
    """Subscribers in bulk: import, export, show and erase."""


def _phone_argument(phone: str, settings: Settings) -> str:
    from bot.domain.phones import InvalidPhone, normalise_phone

    try:
        return normalise_phone(phone, settings.DEFAULT_COUNTRY)
    except InvalidPhone as error:
        raise click.BadParameter(str(error), param_hint="PHONE") from None


@subscribers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--skip-bad",
    is_flag=True,
    help="Import the good rows and report the bad ones (default: import nothing if any is bad).",
)
def subscribers_import(file: Path, skip_bad: bool) -> None:
    """Import consented subscribers from CSV; prints FILE:LINE: column: message per refusal."""
    import csv

    from bot.privacy.bulk import ImportRaced, import_subscribers

    settings, db = migrated_db()
    try:
        with file.open(encoding="utf-8-sig", newline="") as stream:
            reader = csv.DictReader(stream)
            header = [name.strip().lower() for name in reader.fieldnames or ()]
            if "phone" not in header:
                raise click.ClickException(
                    f"{file}: the first line must be a header with a `phone` column"
                )
            report = import_subscribers(
                db,
                reader,
                default_region=settings.DEFAULT_COUNTRY,
                now=clock(),
                source_name=str(file),
                skip_bad=skip_bad,
            )
    except csv.Error as error:  # a cell over csv.field_size_limit(), a stray quote
        raise click.ClickException(f"{file}:{reader.line_num}: cannot read: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise click.ClickException(f"cannot read {file}: {error}") from None
    except ImportRaced as error:
        raise click.ClickException(str(error)) from None
    finally:
        db.dispose()
    for line in report.lines():
        click.echo(line)
    click.echo(f"imported {report.imported}, merged {report.merged}, refused {len(report.refused)}")
    if report.refused and not report.written:
        hint = "" if skip_bad else ", or use --skip-bad"
        click.echo(f"nothing was imported: fix the lines above and run again{hint}")
    if report.refused:
        sys.exit(1)


@subscribers.command("export")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (replaced only once the export is complete) instead of stdout.",
)
def subscribers_export(output: Path | None) -> None:
    """Write every subscriber as CSV, with their latest consent event."""
    from bot.privacy.bulk import EXPORT_COLUMNS, export_subscribers

    _, db = migrated_db(writes=False)  # a read-only replica can be exported from
    try:
        rows = ([row[name] for name in EXPORT_COLUMNS] for row in export_subscribers(db))
        write_export(EXPORT_COLUMNS, rows, output, noun="subscribers")
    finally:
        db.dispose()


@subscribers.command("show")
@click.argument("phone")
def subscribers_show(phone: str) -> None:
    """Everything stored about one number, as JSON (for a subject-access request)."""
    import json

    from bot.privacy.bulk import subscriber_record

    settings, db = migrated_db(writes=False)
    number = _phone_argument(phone, settings)
    try:
        record = subscriber_record(db, number)
    finally:
        db.dispose()
    if record is None:
        raise click.ClickException(f"nothing is stored about {number}")
    click.echo(json.dumps(record, indent=2, ensure_ascii=False))


@subscribers.command("erase")
@click.argument("phone")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def subscribers_erase(phone: str, yes: bool) -> None:
    """Erase a person's data; the number stays opted out and is never texted again."""
    from bot.privacy.bulk import erase_subscriber

    settings, db = migrated_db()
    try:
        number = _phone_argument(phone, settings)
        if not yes:
            click.confirm(
                f"Erase everything about {number}? Their texts, answers and profile are "
                "blanked and the number is never texted again",
                abort=True,
            )
        erased = erase_subscriber(db, number, clock())
    finally:
        db.dispose()
    if not erased:
        raise click.ClickException(f"nothing is stored about {number}")
    click.echo(f"erased {number}: personal data removed; the number stays opted out")
