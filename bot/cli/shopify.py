"""Shopify's webhooks: bot shopify webhooks, bot shopify retry."""

from __future__ import annotations

import click

from bot.cli.common import clock, main, migrated_db
from bot.domain.vocabulary import ShopifyWebhookStatus


@main.group()
def shopify() -> None:
    """The webhooks Shopify delivered (see the README's "Connect your shop")."""


@shopify.command("webhooks")
@click.option("--topic", help="Only this topic, e.g. customers/data_request.")
@click.option(
    "--status",
    type=click.Choice([status.value for status in ShopifyWebhookStatus]),
    help="Only webhooks in this state.",
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
def shopify_webhooks(topic: str | None, status: str | None, limit: int) -> None:
    """The latest webhooks, newest first: when, topic, state, number, what was done."""
    from bot.shopify.received import listing

    _settings, db = migrated_db(writes=False)
    try:
        with db.connect() as connection:
            rows = listing(
                connection,
                topic=topic,
                status=ShopifyWebhookStatus(status) if status else None,
                limit=limit,
            )
    finally:
        db.dispose()
    for row in rows:
        when = row.received_at.strftime("%Y-%m-%d %H:%M:%S")
        click.echo(
            f"{row.id}\t{when}\t{row.topic}\t{row.status}\t{row.phone or '-'}\t{row.outcome or ''}"
        )
    if not rows:
        click.echo("no webhooks", err=True)


@shopify.command("retry")
@click.argument("webhook", type=click.IntRange(min=1))
def shopify_retry(webhook: int) -> None:
    """Try a failed webhook (by the number `bot shopify webhooks` shows) again; the clock does."""
    from bot.shopify.received import retry

    _settings, db = migrated_db()
    try:
        retried = retry(db, webhook, clock())
    finally:
        db.dispose()
    if not retried:
        raise click.ClickException(f"webhook {webhook} has not failed (or its data was erased)")
    click.echo(f"webhook {webhook} will be tried again by the clock within a minute")
