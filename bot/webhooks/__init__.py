"""Outbound webhooks: where events go, how they are signed, and the worker that delivers them."""
