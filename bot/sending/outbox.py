"""Every outbound text becomes a message row here, after the send policy has had its say."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.engine import Connection

from bot.domain import policy
from bot.domain.recipient_places import places_for
from bot.domain.recipient_zones import country_of, zones_for
from bot.domain.segments import count_segments
from bot.domain.urls import Span
from bot.domain.vocabulary import Delivery, Direction, MessageStatus, Purpose, SubscriberStatus
from bot.sending.links import attach_message, shorten_links
from bot.store.driver_sql import DriverStatement
from bot.store.messages import QueuedText
from bot.store.subscribers import SubscriberRow
from bot.store.tables import MESSAGES

_INSERT_OUTBOUND = DriverStatement(MESSAGES.insert().returning(MESSAGES.c.id))

MAX_TEXT_CHARS = 1600  # the most one text may carry: Twilio's limit for a message body
# In the outbox because the provider failed it, or an outage held it back (see dispatch.py).
WAITING_ON_PROVIDER = and_(
    MESSAGES.c.status == MessageStatus.PENDING, MESSAGES.c.retrying_since.is_not(None)
)


@dataclass(frozen=True)
class Waiting:
    """The texts waiting on the provider: how many, and since when."""

    count: int
    since: datetime | None


def queue_text(
    connection: Connection,
    subscriber: SubscriberRow,
    *,
    body: str,
    purpose: Purpose,
    delivery: Delivery,
    now: datetime,
    rules: policy.PolicyRules = policy.DEFAULT_RULES,
    media_urls: tuple[str, ...] = (),
    in_reply_to_id: int | None = None,
    flow: str | None = None,
    agent_id: int | None = None,
    replying: bool | None = None,
    brand_spans: Sequence[Span] = (),
    public_url: str | None = None,
    campaign: str | None = None,
    variant: str | None = None,
    not_before: datetime | None = None,
    external_id: str | None = None,
) -> QueuedText:
    """Log an outbound text as the send policy decides.

    Allowed: ACCEPTED when it leaves in the TwiML answer, else PENDING in the outbox. Deferred
    (quiet hours, a frequency cap): PENDING with `send_after`, the reason noted. Refused:
    SUPPRESSED with the reason. URLs wholly inside `brand_spans` (what the brand wrote in a flow
    or campaign text; compliance texts and agent replies have none) become this person's
    tracked links on `public_url` first, so the segments counted are the segments sent. A
    campaign text names its campaign and variant; `not_before` (a scheduled campaign) holds it
    in the outbox till then, and the policy judges it as of that moment. A text an API client
    gave an `external_id` keeps it (one text per id) with the policy's decision, for a retry.
    """
    link_ids: list[int] = []
    if brand_spans:
        body, link_ids = shorten_links(
            connection,
            body,
            brand_spans=brand_spans,
            phone=subscriber.phone,
            public_url=public_url,
            flow=flow,
            campaign=campaign,
            now=now,
        )
    if replying is None:
        # An action's texts answer the person's text too, though they leave by the outbox.
        replying = delivery is Delivery.TWIML or in_reply_to_id is not None
    judged_at = now if not_before is None else max(not_before, now)
    scheduled = judged_at > now
    if len(body) > MAX_TEXT_CHARS:
        # Twilio refuses it (error 21617); a template filled with someone's huge event data
        # must not become hundreds of segments either. Logged, with the reason, never sent.
        decision = policy.Decision(
            policy.Verdict.SUPPRESS, f"longer than {MAX_TEXT_CHARS} characters ({len(body)})"
        )
    else:
        decision = policy.decide(
            send_context(connection, subscriber, purpose=purpose, now=judged_at, replying=replying),
            rules,
        )
    send_after = None
    if decision.verdict is policy.Verdict.SUPPRESS:
        status = MessageStatus.SUPPRESSED
    elif decision.verdict is policy.Verdict.DEFER:
        # Held back: it cannot ride in the TwiML answer, so it waits in the outbox.
        status, delivery, send_after = MessageStatus.PENDING, Delivery.OUTBOX, decision.send_at
    elif scheduled:
        status, delivery, send_after = MessageStatus.PENDING, Delivery.OUTBOX, not_before
    elif delivery is Delivery.TWIML:
        status = MessageStatus.ACCEPTED
    else:
        status = MessageStatus.PENDING
    segments = count_segments(body)
    # Only given when there is one: the statement every other text runs stays as it was.
    client_columns = (
        {} if external_id is None else {"external_id": external_id, "decision": decision.to_json()}
    )
    message_id = _INSERT_OUTBOUND.run(
        connection,
        {
            **client_columns,
            "phone": subscriber.phone,
            "direction": Direction.OUTBOUND,
            "body": body,
            "media_urls": list(media_urls),
            "segments": segments.segments,
            "encoding": str(segments.encoding),
            "status": status,
            "purpose": purpose,
            "delivery": delivery,
            "in_reply_to_id": in_reply_to_id,
            "error_message": decision.reason,
            "flow": flow,
            "campaign": campaign,
            "variant": variant,
            "agent_id": agent_id,
            "send_after": send_after,
            # A TwiML reply is handed to the provider with the webhook's answer: sent now.
            "sent_at": now if status is MessageStatus.ACCEPTED else None,
            "created_at": now,
            "updated_at": now,
        },
    ).scalar_one()
    attach_message(connection, link_ids, message_id)
    return QueuedText(message_id, body, status, media_urls, send_after, decision)


def send_context(
    connection: Connection,
    subscriber: SubscriberRow,
    *,
    purpose: Purpose,
    now: datetime,
    replying: bool,
) -> policy.SendContext:
    """What the send policy needs to know about this text and its recipient, right now."""
    capped = purpose is Purpose.PROMOTIONAL and not replying
    return policy.SendContext(
        purpose=purpose,
        recipient_status=subscriber.status,
        now=now,
        zones=_zones(subscriber.phone, subscriber.timezone, subscriber.attributes),
        country=country_of(subscriber.phone),
        places=places_for(subscriber.phone, subscriber.attributes.get("state")),
        replying=replying,
        recent_promotional=_recent_promotional(connection, subscriber.phone, now) if capped else (),
    )


def sending_hours_at_claim(
    *,
    phone: str,
    status: SubscriberStatus,
    timezone: str | None,
    attributes: Mapping[str, Any] | None,
    purpose: Purpose | None,
    replying: bool,
    now: datetime,
    rules: policy.PolicyRules,
) -> policy.Decision:
    """May a queued text leave now, as far as the recipient's sending hours go?

    A text can wait in the outbox far past the moment it was judged (a provider outage, a
    retry): quiet hours may have begun meanwhile, and then it waits again.
    """
    context = policy.SendContext(
        # A row without a purpose gets the strictest treatment.
        purpose=purpose or Purpose.PROMOTIONAL,
        recipient_status=status,
        now=now,
        zones=_zones(phone, timezone, attributes or {}),
        country=country_of(phone),
        places=places_for(phone, (attributes or {}).get("state")),
        replying=replying,
    )
    return policy.decide_sending_hours(context, rules)


def _zones(phone: str, timezone: str | None, attributes: Mapping[str, Any]) -> tuple[str, ...]:
    """Their own zone (a column, or an imported attribute), else the zones their number spans."""
    own_zone = timezone or attributes.get("timezone")
    return zones_for(phone, own_zone if isinstance(own_zone, str) else None)


_NOT_GOING_OUT = (MessageStatus.SUPPRESSED, MessageStatus.FAILED, MessageStatus.UNDELIVERED)
_RECENT_PROMOTIONAL = DriverStatement(
    select(func.coalesce(MESSAGES.c.sent_at, MESSAGES.c.send_after, MESSAGES.c.created_at)).where(
        MESSAGES.c.phone == bindparam("phone"),
        MESSAGES.c.direction == Direction.OUTBOUND,
        MESSAGES.c.purpose == Purpose.PROMOTIONAL,
        # Spelled out rather than NOT IN: driver statements take no expanding parameters.
        *(MESSAGES.c.status != status for status in _NOT_GOING_OUT),
        # An old text sent again (`bot outbox retry`) is due anew: its send_after counts.
        or_(MESSAGES.c.created_at > bindparam("since"), MESSAGES.c.send_after > bindparam("since")),
    )
)


def _recent_promotional(connection: Connection, phone: str, now: datetime) -> tuple[datetime, ...]:
    """When promotional texts went (or are due to go) to this number in the last day or so."""
    # Rows queued up to a day before `now` may be deferred to within the window: look back 2 d.
    since = now - timedelta(days=2)
    moments = _RECENT_PROMOTIONAL.run(connection, {"phone": phone, "since": since}).scalars()
    return tuple(_aware(moment) for moment in moments)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def next_send_after(connection: Connection, limit: datetime) -> datetime | None:
    """The earliest moment a deferred outbox text becomes due, if no later than `limit`."""
    moment = connection.execute(
        select(func.min(MESSAGES.c.send_after)).where(
            MESSAGES.c.status == MessageStatus.PENDING, MESSAGES.c.send_after <= limit
        )
    ).scalar_one_or_none()
    return None if moment is None else _aware(moment)


def move_to_outbox(connection: Connection, texts: Sequence[QueuedText]) -> list[int]:
    """Take TwiML replies out of the webhook's answer: they wait in the outbox instead, in order.

    Their policy verdict stands (they were judged as replies); returns their ids.
    """
    ids = [text.id for text in texts if text.status is MessageStatus.ACCEPTED]
    if ids:
        connection.execute(
            update(MESSAGES)
            .where(MESSAGES.c.id.in_(ids), MESSAGES.c.delivery == Delivery.TWIML)
            .values(delivery=Delivery.OUTBOX, status=MessageStatus.PENDING, sent_at=None)
        )
    return ids


def waiting_on_provider(connection: Connection) -> Waiting:
    """How many texts wait in the outbox because the provider failed them, and since when."""
    count, since = connection.execute(
        select(func.count(), func.min(MESSAGES.c.retrying_since)).where(WAITING_ON_PROVIDER)
    ).one()
    return Waiting(int(count), None if since is None else _aware(since))
