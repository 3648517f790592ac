"""The outbox: bot outbox retry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from bot.cli.common import clock, main, migrated_db

_MOMENT_FORMS = (
    "an ISO date or time (2026-11-30, 2026-11-30T14:00, …T14:00-05:00) or a time ago (2h, 1d)"
)


class Moment(click.ParamType):
    """A moment on the command line: ISO 8601 (UTC unless it says otherwise), or "2h" ago."""

    name = "moment"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        from bot.engine.durations import DurationError, parse_duration

        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            try:
                return clock() - parse_duration(text)
            except DurationError:
                self.fail(f"{text!r} is neither {_MOMENT_FORMS}", param, ctx)
        try:
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:59-05:00 is past the last moment UTC can name
            self.fail(f"{text!r} is out of range", param, ctx)


@main.group()
def outbox() -> None:
    """The outbox of texts on their way to the provider."""


@outbox.command("retry")
@click.option("--campaign", metavar="NAME", help="Only texts of this campaign.")
@click.option(
    "--since",
    type=Moment(),
    help="Only texts that failed at or after this moment: 2026-11-30T14:00 (UTC unless it has"
    " an offset), or a time ago such as 2h.",
)
@click.option("--until", type=Moment(), help="Only texts that failed before this moment.")
@click.option(
    "--error-code",
    "error_codes",
    type=click.IntRange(min=0),
    multiple=True,
    metavar="CODE",
    help="Only texts that failed with this provider error code, e.g. 20503 (repeatable).",
)
@click.option("--dry-run", is_flag=True, help="Count what would happen; change nothing.")
def outbox_retry(
    campaign: str | None,
    since: datetime | None,
    until: datetime | None,
    error_codes: tuple[int, ...],
    dry_run: bool,
) -> None:
    """Send failed texts again, through the send policy (consent, quiet hours, caps).

    Texts whose fate is unknown (they may have been sent) and texts to numbers that opted out
    are never sent again. Times are UTC unless they carry an offset.
    """
    from bot.campaigns.stats import has_messages
    from bot.sending.requeue import Selection, describe, retry_failed

    if campaign is None and since is None and until is None and not error_codes:
        raise click.UsageError(
            "say which failed texts to retry: --campaign NAME, --since/--until MOMENT or"
            " --error-code CODE (for every failed text: --since 1970-01-01)"
        )
    if since is not None and until is not None and since >= until:
        raise click.BadParameter(
            f"{until.isoformat()} is not after --since {since.isoformat()}", param_hint="--until"
        )
    settings, db = migrated_db()
    try:
        if campaign is not None:
            with db.connect() as connection:
                if not has_messages(connection, campaign):
                    raise click.BadParameter(
                        f"no texts of campaign {campaign!r} are stored", param_hint="--campaign"
                    )
        report = retry_failed(
            db,
            Selection(campaign=campaign, since=since, until=until, error_codes=error_codes),
            now=clock(),
            rules=settings.policy_rules,
            dry_run=dry_run,
        )
    finally:
        db.dispose()
    click.echo(describe(report, dry_run=dry_run))
