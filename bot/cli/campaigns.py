"""Campaigns: bot campaign list/preview/send/pause."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from bot.cli.common import (
    clock,
    main,
    require_migrated,
    settings_or_exit,
)
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.campaigns.model import Campaign


@main.group()
def campaign() -> None:
    """List, preview, send and pause campaign files (FLOWS_DIR/campaigns)."""


def _campaigns(settings: Settings) -> dict[str, Campaign]:
    from bot.campaigns.parser import read_campaigns

    parsed = read_campaigns(settings.FLOWS_DIR, brand=settings.BRAND_NAME)
    return {item.campaign.name: item.campaign for item in parsed if item.campaign is not None}


@campaign.command("list")
def campaign_list() -> None:
    """The campaigns that pass the check, with their variants and reply flow."""
    from bot.campaigns.parser import read_campaigns

    settings = settings_or_exit()
    parsed = read_campaigns(settings.FLOWS_DIR, brand=settings.BRAND_NAME)
    if not parsed:
        click.echo(f"no campaign files in {settings.FLOWS_DIR / 'campaigns'}")
    for item in parsed:
        found = item.campaign
        if found is None:
            click.echo(f"{item.file}: has errors (see `bot flows check`)")
            continue
        variants = ", ".join(f"{v.name} ({v.weight:g})" for v in found.variants)
        when = "now" if found.send_at is None else f"{found.send_at:%Y-%m-%d %H:%M} local"
        line = f"{found.name}: {found.description or found.file}; variants {variants}; {when}"
        click.echo(line + (f"; replies to {found.reply_flow}" if found.reply_flow else ""))


@campaign.command("preview")
@click.argument("name")
def campaign_preview(name: str) -> None:
    """Who would get campaign NAME, sample texts, segments, cost and time to send."""
    from bot.campaigns.audience import audience
    from bot.campaigns.preview import Pricing, describe, preview_campaign
    from bot.store.db import make_db

    settings = settings_or_exit()
    known = _campaigns(settings)
    if name not in known:
        listed = ", ".join(sorted(known)) or "none"
        raise click.ClickException(
            f"no campaign named {name!r} that passes the check (known: {listed});"
            " see `bot flows check`"
        )
    require_migrated(settings)
    found = known[name]
    db = make_db(settings.DATABASE_URL)
    try:
        with db.connect() as connection:
            preview = preview_campaign(
                found,
                audience(connection, found.segment),
                brand=settings.BRAND_NAME,
                support=settings.SUPPORT_CONTACT,
                pricing=Pricing(
                    settings.PRICE_PER_SEGMENT,
                    settings.CURRENCY,
                    settings.SEND_RATE,
                    price_per_mms=settings.PRICE_PER_MMS,
                ),
                default_zone=settings.DEFAULT_TIMEZONE,
                now=clock(),
                rules=settings.policy_rules,
            )
    finally:
        db.dispose()
    click.echo(describe(preview))


@campaign.command("send")
@click.argument("name")
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=None,
    help="People per transaction.  [default: 500 on SQLite, 2000 on PostgreSQL]",
)
def campaign_send(name: str, batch: int | None) -> None:
    """Queue campaign NAME for its segment; run it again to resume after a pause."""
    from bot.campaigns.send import CampaignNotFound, load_campaign, send_campaign
    from bot.services import build_services

    settings = settings_or_exit()
    try:
        load_campaign(settings, name)
    except CampaignNotFound as error:
        raise click.ClickException(str(error)) from None
    require_migrated(settings)
    services = build_services(settings)
    try:
        with click.progressbar(length=0, label=f"Queueing {name}", show_pos=True) as bar:

            def progress(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)

            report = send_campaign(services, name, progress=progress, batch=batch)
    finally:
        services.db.dispose()
    click.echo(
        f"{name}: {report.recipients:,} people in the segment; {report.queued:,} queued,"
        f" {report.skipped:,} skipped (already sent), {report.suppressed:,} suppressed by policy,"
        f" {report.deferred:,} deferred (quiet hours or frequency cap)"
    )
    if report.held:
        click.echo(
            f"test split sent; {report.held:,} people wait for the winner, which the clock"
            f" picks when the test's wait is over (`bot campaign status {name}`)"
        )
    if report.paused:
        click.echo(f"paused: run `bot campaign send {name}` to resume")


@campaign.command("status")
@click.argument("name")
def campaign_status(name: str) -> None:
    """Where sending campaign NAME stands, and its test split's decision."""
    from bot.campaigns.decision import split_state
    from bot.store.db import make_db

    settings = settings_or_exit()
    require_migrated(settings)
    db = make_db(settings.DATABASE_URL)
    try:
        with db.connect() as connection:
            state = split_state(connection, name)
    finally:
        db.dispose()
    if state.status is None:
        raise click.ClickException(f"campaign {name!r} has not been sent yet")
    click.echo(f"{name}: {state.status.value}")
    if state.decide_at is not None and state.decision is None:
        click.echo(f"test split sent; the winner is picked at {state.decide_at:%Y-%m-%d %H:%M} UTC")
    if state.decision is not None:
        click.echo(describe_decision(state.decision))


def describe_decision(decision: dict[str, object]) -> str:
    """A test split's decision in two lines: which variant and why, then the numbers."""
    numbers = decision.get("numbers")
    by = str(decision.get("pick_by"))
    counts = "; ".join(
        f"{row.get('variant')}: {row.get(by)} of {row.get('sent')} sent"
        for row in (numbers if isinstance(numbers, list) else [])
        if isinstance(row, dict)
    )
    return (
        f"decided {decision.get('decided_at')}: {decision.get('variant')} goes to the rest"
        f" ({decision.get('reason')})\n{by}: {counts}"
    )


@campaign.command("pause")
@click.argument("name")
def campaign_pause(name: str) -> None:
    """Stop sending campaign NAME after the current batch (`bot campaign send` resumes)."""
    from bot.campaigns.send import CampaignNotFound, load_campaign, pause_campaign
    from bot.domain.vocabulary import CampaignSendStatus
    from bot.services import build_services

    settings = settings_or_exit()
    try:
        load_campaign(settings, name)
    except CampaignNotFound as error:
        raise click.ClickException(str(error)) from None
    require_migrated(settings)
    services = build_services(settings)
    try:
        status = pause_campaign(services, name)
    finally:
        services.db.dispose()
    if status is None:
        raise click.ClickException(f"campaign {name!r} has not been sent yet: nothing to pause")
    if status is CampaignSendStatus.DONE:
        raise click.ClickException(f"campaign {name!r} is already queued in full: nothing to pause")
    click.echo(f"{name}: paused; `bot campaign send {name}` resumes it")
