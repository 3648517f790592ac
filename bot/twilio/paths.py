"""Where Twilio reaches Parley: the webhook paths, without Flask, for the processes that only
build the addresses (a `bot worker` names the status callback in every text it sends)."""

from __future__ import annotations

PREFIX = "/twilio"
INBOUND_SMS_PATH = f"{PREFIX}/sms"
STATUS_CALLBACK_PATH = f"{PREFIX}/status"  # built by hand: url_for costs a lot on the hot path
