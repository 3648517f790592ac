"""Outbound webhooks: bot webhooks list, test and retry."""

from __future__ import annotations

import secrets
import sys
from datetime import datetime
from typing import TYPE_CHECKING

import click

from bot.cli.common import clock, main, migrated_db, settings_or_exit
from bot.cli.outbox import Moment
from bot.domain.vocabulary import DeliveryStatus, WebhookEventType

if TYPE_CHECKING:
    from bot.settings import Settings
    from bot.store.tables import AnyRow
    from bot.webhooks.endpoints import Endpoints
    from bot.webhooks.queue import Filters

_FILTERS = (
    click.option(
        "--endpoint", metavar="NAME", help="Only this endpoint's (`default`: WEBHOOK_URL's)."
    ),
    click.option(
        "--type",
        "event_type",
        type=click.Choice([kind.value for kind in WebhookEventType]),
        help="Only events of this type.",
    ),
    click.option("--phone", metavar="E164", help="Only this person's events, e.g. +14155550100."),
    click.option(
        "--since",
        type=Moment(),
        help="Only events recorded at or after this moment: 2026-11-30T14:00 (UTC unless it"
        " has an offset), or a time ago such as 2h.",
    ),
)


def _filtered(command: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(_FILTERS):
        command = option(command)
    return command


@main.group()
def webhooks() -> None:
    """Outbound webhooks: what was delivered, a signed test, and retrying what was given up."""


@webhooks.command("list")
@_filtered
@click.option(
    "--status",
    type=click.Choice([status.value for status in DeliveryStatus]),
    help="Only deliveries in this state.",
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
def webhooks_list(
    endpoint: str | None,
    event_type: str | None,
    phone: str | None,
    since: datetime | None,
    status: str | None,
    limit: int,
) -> None:
    """The newest deliveries first: event, endpoint, state, attempts, next try, last answer."""
    from bot.webhooks.queue import recent_deliveries

    filters = _filters(endpoint, event_type, phone, since)
    _settings, db = migrated_db(writes=False)
    try:
        with db.connect() as connection:
            rows = recent_deliveries(
                connection,
                filters,
                status=DeliveryStatus(status) if status else None,
                limit=limit,
            )
    finally:
        db.dispose()
    if not rows:
        click.echo("no webhook deliveries")
        return
    for row in rows:
        click.echo(
            f"{row.created_at:%Y-%m-%d %H:%M:%S} {row.public_id} {row.type} {row.phone}"
            f" → {row.endpoint}: {_state(row)}"
        )


def _state(row: AnyRow) -> str:
    """One delivery's state in words: delivered when, or where its retries stand."""
    status = DeliveryStatus(row.status)
    tries = f"{row.attempts} attempt{'s' if row.attempts != 1 else ''}"
    last = f"; last: {row.last_error}" if row.last_error else ""
    if status is DeliveryStatus.DELIVERED:
        return f"delivered {row.delivered_at:%Y-%m-%d %H:%M:%S} ({tries})"
    if status is DeliveryStatus.PENDING:
        due = row.next_attempt_at
        return f"pending, {tries}, next try {f'{due:%Y-%m-%d %H:%M:%S}' if due else 'now'}{last}"
    return f"{status.value.replace('_', ' ')} after {tries}{last}"


@webhooks.command("test")
def webhooks_test() -> None:
    """Send a signed `ping` to every endpoint and print each answer; exits 1 if one failed."""
    from bot.webhooks.delivery import event_body, post_event

    settings = settings_or_exit()
    endpoints = _endpoints(settings)
    if not len(endpoints):
        raise click.ClickException(
            "no webhook endpoints: set WEBHOOK_URL and WEBHOOK_SECRET, or write"
            f" {settings.FLOWS_DIR / 'webhooks.yaml'} (README, Webhooks)"
        )
    failed = 0
    for endpoint in endpoints:
        now = clock()
        body = event_body(f"evt_ping_{secrets.token_hex(8)}", "ping", now, {})
        answer = post_event(endpoint, body, now)
        failed += not answer.accepted
        verdict = "ok" if answer.accepted else "FAILED"
        click.echo(f"{endpoint.name} {endpoint.url}: {answer.describe()} ({verdict})")
    if failed:
        sys.exit(1)


@webhooks.command("retry")
@_filtered
def webhooks_retry(
    endpoint: str | None, event_type: str | None, phone: str | None, since: datetime | None
) -> None:
    """Deliver given-up events again, each with a fresh retry window (erased people's never)."""
    from bot.store.db import transaction
    from bot.webhooks.queue import requeue_given_up

    filters = _filters(endpoint, event_type, phone, since)
    _settings, db = migrated_db()
    try:
        with transaction(db) as connection:
            count = requeue_given_up(connection, filters, now=clock())
    finally:
        db.dispose()
    noun = "delivery" if count == 1 else "deliveries"
    click.echo(f"{count} given-up {noun} pending again; a running `bot worker` posts them")


def _filters(
    endpoint: str | None, event_type: str | None, phone: str | None, since: datetime | None
) -> Filters:
    from bot.domain.phones import InvalidPhone, normalise_phone
    from bot.webhooks.queue import Filters

    if phone is not None:
        try:
            phone = normalise_phone(phone, settings_or_exit().DEFAULT_COUNTRY)
        except InvalidPhone as error:
            raise click.BadParameter(str(error), param_hint="--phone") from None
    return Filters(endpoint=endpoint, event_type=event_type, phone=phone, since=since)


def _endpoints(settings: Settings) -> Endpoints:
    from bot.webhooks.endpoints import WebhooksFileError, load_endpoints

    try:
        return load_endpoints(
            settings.FLOWS_DIR,
            webhook_url=settings.WEBHOOK_URL,
            webhook_secret=settings.WEBHOOK_SECRET,
        )
    except WebhooksFileError as error:
        raise click.ClickException(f"the webhooks file cannot be used:\n{error}") from None
