"""Trying flows without a phone: `bot flows test`, `bot chat` and their scratch databases."""
