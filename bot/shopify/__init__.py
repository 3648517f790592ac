"""Shopify, natively: its webhooks verified, stored once, and turned into Parley's own events."""
