"""Sending: the outbox, the dispatcher, tracked links and the gateways texts leave through."""
