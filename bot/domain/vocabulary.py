"""The shared vocabulary: the states and kinds every part speaks of. Pure: no database.

The tables store these values; the engine and the rules read them without importing the
store.
"""

from __future__ import annotations

from enum import StrEnum


class SubscriberStatus(StrEnum):
    NEW = "new"  # has texted us but never asked to join
    PENDING = "pending"  # asked to join; waits for the Y that confirms (double opt-in)
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"


class ConsentKind(StrEnum):
    OPT_IN_REQUESTED = "opt_in_requested"  # JOIN or a web form: consent asked, not yet confirmed
    OPT_IN = "opt_in"
    OPT_OUT = "opt_out"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Purpose(StrEnum):
    """Why an outbound text exists; the send policy treats each differently."""

    COMPLIANCE = "compliance"  # STOP confirmation, HELP answer: required by the carrier rules
    REPLY = "reply"  # an answer to a text the customer just sent
    TRANSACTIONAL = "transactional"
    PROMOTIONAL = "promotional"


class MessageStatus(StrEnum):
    RECEIVED = "received"  # inbound
    PENDING = "pending"  # in our outbox, not yet handed to the provider
    ACCEPTED = "accepted"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    SUPPRESSED = "suppressed"  # the send policy refused it; never reached the provider
    UNKNOWN = "unknown"  # a crash left its fate open: reconcile with the provider, never resend


class Delivery(StrEnum):
    """How an outbound text leaves: inside the webhook's TwiML answer or through the outbox."""

    TWIML = "twiml"
    OUTBOX = "outbox"


class CampaignSendStatus(StrEnum):
    QUEUED = "queued"  # being queued into the outbox (or stopped by a crash: run send again)
    PAUSED = "paused"  # stopped between batches; `bot campaign send` resumes it
    TESTING = "testing"  # the test split is queued; the clock decides at decide_at, then sends on
    DONE = "done"  # everyone in the segment has their text in the outbox


class ConversationStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class TimerKind(StrEnum):
    """Why a conversation wakes up on its own."""

    WAIT = "wait"  # a `wait` step's delay is over
    TIMEOUT = "timeout"  # a question went unanswered for its timeout
    EXPIRY = "expiry"  # a flow waiting for an answer gave up (its `expires_after`)
    ACTION = "action"  # an action or http step's call stands guard: retried after a crash


class HandledBy(StrEnum):
    BOT = "bot"
    WAITING_FOR_AGENT = "waiting_for_agent"  # a flow handed off; nobody has taken it yet
    AGENT = "agent"


class ShopifyWebhookStatus(StrEnum):
    """Where a webhook Shopify delivered stands (`bot.shopify`)."""

    PENDING = "pending"  # stored and answered; its work is still to do (or to retry)
    DONE = "done"  # its work is done
    IGNORED = "ignored"  # nothing Parley could do with it (no phone, a topic it does not use …)
    FAILED = "failed"  # its work failed every retry: see the outcome and the log


class WebhookEventType(StrEnum):
    """What an outbound webhook tells a receiver (README, "Webhooks")."""

    SUBSCRIBED = "subscriber.subscribed"
    OPTED_OUT = "subscriber.opted_out"
    ERASED = "subscriber.erased"
    UPDATED = "subscriber.updated"  # the profile an e-mail tool keeps changed (the e-mail address)
    ANSWER_RECORDED = "answer.recorded"
    FLOW_COMPLETED = "flow.completed"
    HANDOFF = "conversation.handoff"
    LINK_CLICKED = "link.clicked"
    ORDER_ATTRIBUTED = "order.attributed"
    MESSAGE_FAILED = "message.failed"


class DeliveryStatus(StrEnum):
    """Where one event stands with one webhook endpoint."""

    PENDING = "pending"  # to be posted (again), once the person's earlier events are settled
    DELIVERED = "delivered"  # the receiver answered 2xx
    GAVE_UP = "gave_up"  # still failing after WEBHOOK_RETRY_WINDOW; `bot webhooks retry`
    DROPPED = "dropped"  # never posted: the person's data was erased first
