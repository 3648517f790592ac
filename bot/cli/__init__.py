"""The `bot` command. Each module adds one group of subcommands to `main`."""

from bot.cli import accounts, campaigns, flows, running, subscribers  # noqa: F401  (registers them)
from bot.cli.common import main

__all__ = ["main"]
