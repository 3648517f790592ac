"""The `bot` command. Each module adds one group of subcommands to `main`."""

from bot.cli import (  # noqa: F401  (registers them)
    accounts,
    campaigns,
    flows,
    outbox,
    running,
    shopify,
    subscribers,
    texting,
    webhooks,
)
from bot.cli.common import main

__all__ = ["main"]
