"""Every outbound text becomes a message row here, after the send policy has had its say."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.engine import Connection

from bot.domain import policy
from bot.domain.phones import exchange_of
from bot.domain.recipient_places import places_for
from bot.domain.recipient_zones import country_of, zones_for
from bot.domain.segments import count_segments
from bot.domain.urls import Span
from bot.domain.vocabulary import Delivery, Direction, MessageStatus, Purpose, SubscriberStatus
from bot.sending.links import LinkDraft, attach_message, shorten_links, shorten_links_in_batch
from bot.store.db import fresh_ids, json_array, where_in_bound
from bot.store.driver_sql import BulkInsert, DriverStatement
from bot.store.messages import QueuedText
from bot.store.models import status_in, status_is
from bot.store.subscribers import SubscriberRow
from bot.store.tables import MESSAGES

_INSERT_OUTBOUND = DriverStatement(MESSAGES.insert().returning(MESSAGES.c.id))

MAX_TEXT_CHARS = 1600  # the most one text may carry: Twilio's limit for a message body
# In the outbox because the provider failed it, or an outage held it back (see dispatch.py).
WAITING_ON_PROVIDER = and_(
    status_is(MESSAGES.c.status, MessageStatus.PENDING),
    MESSAGES.c.retrying_since.is_not(None),
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
    recent = (
        _recent_promotional(connection, subscriber.phone, judged_at)
        if _capped(purpose, replying)
        else ()
    )
    decision = _decide(body, _context(subscriber, purpose, judged_at, replying, recent), rules)
    row = _message_row(
        subscriber.phone,
        body,
        decision,
        purpose=purpose,
        delivery=delivery,
        now=now,
        not_before=not_before,
        media_urls=media_urls,
        in_reply_to_id=in_reply_to_id,
        flow=flow,
        agent_id=agent_id,
        campaign=campaign,
        variant=variant,
    )
    # Only given when there is one: the statement every other text runs stays as it was.
    if external_id is not None:
        row |= {"external_id": external_id, "decision": decision.to_json()}
    message_id = _INSERT_OUTBOUND.run(connection, row).scalar_one()
    attach_message(connection, link_ids, message_id)
    return QueuedText(message_id, body, row["status"], media_urls, row["send_after"], decision)


class Draft(NamedTuple):  # a tuple: a campaign makes one per person, at a third of the cost
    """One person's text for `queue_texts`: what `queue_text` takes that is theirs alone."""

    subscriber: SubscriberRow
    body: str
    brand_spans: Sequence[Span] = ()
    variant: str | None = None
    not_before: datetime | None = None
    media_urls: tuple[str, ...] = ()


def queue_texts(
    connection: Connection,
    drafts: Sequence[Draft],
    *,
    purpose: Purpose,
    now: datetime,
    rules: policy.PolicyRules = policy.DEFAULT_RULES,
    public_url: str | None = None,
    flow: str | None = None,
    campaign: str | None = None,
    first_of_campaign: bool = False,
    redone_on_conflict: bool = False,
) -> list[QueuedText]:
    """`queue_text` for many outbox texts that answer nobody (a campaign's), in a few statements.

    Each draft gets the rows `queue_text` would give it, judged by the same code: one SELECT
    of the batch's recent promotional texts, one of its existing links, one INSERT of its
    messages and one of its new links, however many people. Identical policy questions (no
    recent texts, same zones, places and moment) are answered once. One text per number: a
    second would not count the first in its frequency cap, as `queue_text` one by one does.

    `first_of_campaign`: the caller checked that nobody here has a text of `campaign` yet. A
    campaign's links are made only with its texts, which are never deleted, so nobody has one
    of its links either: none is looked up (on PostgreSQL a probe a person, 3-5 ms a batch).
    `redone_on_conflict`: the caller redoes the transaction on an IntegrityError, so new link
    codes are left to the unique index to prove unused (`shorten_links_in_batch`).
    """
    if not drafts:
        return []
    if len({draft.subscriber.phone for draft in drafts}) < len(drafts):
        raise ValueError("queue_texts takes one text per number; queue the others after")
    links = shorten_links_in_batch(
        connection,
        [LinkDraft(d.body, d.brand_spans, d.subscriber.phone) for d in drafts],
        public_url=public_url,
        flow=flow,
        campaign=campaign,
        now=now,
        no_links_yet=first_of_campaign and campaign is not None,
        redone_on_conflict=redone_on_conflict,
    )
    judged = [now if d.not_before is None else max(d.not_before, now) for d in drafts]
    recent = (
        _recent_promotional_of(connection, [d.subscriber.phone for d in drafts], judged)
        if _capped(purpose, replying=False)
        else {}
    )
    # The policy's answer depends on nothing else than this key: people of one place, status
    # and moment with no recent texts (most of a campaign) ask one question, built once.
    decisions: dict[tuple[Any, ...], policy.Decision] = {}
    where = Where()
    rows, decided = [], []
    # What every text of the batch has alike is given once (BulkInsert processes it once).
    shared = _batch_columns(
        purpose=purpose, delivery=Delivery.OUTBOX, now=now, flow=flow, campaign=campaign
    )
    for draft, body, judged_at in zip(drafts, links.bodies, judged, strict=True):
        subscriber = draft.subscriber
        phone = subscriber.phone
        place = where(subscriber)
        recent_texts = recent.get(phone, ())
        key = (subscriber.status, place, judged_at, recent_texts, len(body) > MAX_TEXT_CHARS)
        decision = decisions.get(key)
        if decision is None:
            context = _context(subscriber, purpose, judged_at, False, recent_texts, place)
            decision = decisions[key] = _decide(body, context, rules)
        decided.append(decision)
        # An outbox text is never handed over with an answer: its delivery stays the outbox's
        # whatever the decision, and it is not sent yet (the shared columns say so).
        status, _delivery, send_after = _fate(
            decision, delivery=Delivery.OUTBOX, now=now, not_before=draft.not_before
        )
        rows.append(
            _text_columns(
                phone, body, draft.media_urls, status, decision, draft.variant, send_after
            )
        )
    message_ids = _insert_messages(connection, rows, shared)
    links.store(connection, message_ids)
    return [
        QueuedText(id_, row["body"], row["status"], draft.media_urls, row["send_after"], decision)
        for id_, row, draft, decision in zip(message_ids, rows, drafts, decided, strict=True)
    ]


def _insert_messages(
    connection: Connection, rows: Sequence[dict[str, Any]], shared: Mapping[str, Any]
) -> list[int]:
    """Store the rows (one per number, each with `shared`'s columns too) in one executemany;
    their ids, in the rows' order.

    Each row gets its "id" (set in place: a copy of each row cost about as much as its
    binding, 1.7 µs a person).
    """
    # The ids are drawn first and given: INSERT ... RETURNING is a statement of 20 parameters
    # a row that SQLAlchemy renders and binds in Python (on SQLite about as much as the rest of
    # the person's text), while a bulk insert is the driver's C loop (or COPY).
    ids = fresh_ids(connection, MESSAGES, len(rows))
    for row, id_ in zip(rows, ids, strict=True):
        row["id"] = id_
    _INSERT_MESSAGES.run(connection, rows, shared)
    return ids


_INSERT_MESSAGES = BulkInsert(MESSAGES)


def _capped(purpose: Purpose, replying: bool) -> bool:
    """Whether the frequency caps count this text: promotional, not an answer."""
    return purpose is Purpose.PROMOTIONAL and not replying


def _decide(body: str, context: policy.SendContext, rules: policy.PolicyRules) -> policy.Decision:
    """The policy's decision on this text, or SUPPRESS for a body no provider takes."""
    if len(body) > MAX_TEXT_CHARS:
        # Twilio refuses it (error 21617); a template filled with someone's huge event data
        # must not become hundreds of segments either. Logged, with the reason, never sent.
        return policy.Decision(
            policy.Verdict.SUPPRESS, f"longer than {MAX_TEXT_CHARS} characters ({len(body)})"
        )
    return policy.decide(context, rules)


def _message_row(
    phone: str,
    body: str,
    decision: policy.Decision,
    *,
    purpose: Purpose,
    delivery: Delivery,
    now: datetime,
    not_before: datetime | None,
    media_urls: tuple[str, ...],
    in_reply_to_id: int | None = None,
    flow: str | None,
    agent_id: int | None = None,
    campaign: str | None,
    variant: str | None,
) -> dict[str, Any]:
    """The message row for a text the policy decided on: its status, delivery and due time."""
    status, delivery, send_after = _fate(
        decision, delivery=delivery, now=now, not_before=not_before
    )
    return {
        **_text_columns(phone, body, media_urls, status, decision, variant, send_after),
        **_batch_columns(
            purpose=purpose,
            delivery=delivery,
            now=now,
            flow=flow,
            campaign=campaign,
            in_reply_to_id=in_reply_to_id,
            agent_id=agent_id,
            # A TwiML reply is handed to the provider with the webhook's answer: sent now.
            sent_at=now if status is MessageStatus.ACCEPTED else None,
        ),
    }


def _fate(
    decision: policy.Decision, *, delivery: Delivery, now: datetime, not_before: datetime | None
) -> tuple[MessageStatus, Delivery, datetime | None]:
    """A decided text's status, delivery and due time (None: now)."""
    if decision.verdict is policy.Verdict.SUPPRESS:
        return MessageStatus.SUPPRESSED, delivery, None
    if decision.verdict is policy.Verdict.DEFER:
        # Held back: it cannot ride in the TwiML answer, so it waits in the outbox.
        return MessageStatus.PENDING, Delivery.OUTBOX, decision.send_at
    if not_before is not None and not_before > now:  # scheduled: held in the outbox till then
        return MessageStatus.PENDING, Delivery.OUTBOX, not_before
    if delivery is Delivery.TWIML:
        return MessageStatus.ACCEPTED, delivery, None
    return MessageStatus.PENDING, delivery, None


def _text_columns(
    phone: str,
    body: str,
    media_urls: tuple[str, ...],
    status: MessageStatus,
    decision: policy.Decision,
    variant: str | None,
    send_after: datetime | None,
) -> dict[str, Any]:
    """A message row's columns that are this text's own."""
    segments = count_segments(body)
    return {
        "phone": phone,
        "body": body,
        "media_urls": media_urls,  # a tuple: one JSON text per batch, bound once (BulkInsert)
        "segments": segments.segments,
        "encoding": str(segments.encoding),
        "status": status,
        "error_message": decision.reason,
        "variant": variant,
        "send_after": send_after,
    }


def _batch_columns(
    *,
    purpose: Purpose,
    delivery: Delivery,
    now: datetime,
    flow: str | None,
    campaign: str | None,
    in_reply_to_id: int | None = None,
    agent_id: int | None = None,
    sent_at: datetime | None = None,
) -> dict[str, Any]:
    """A message row's columns that a batch's texts have alike."""
    return {
        "direction": Direction.OUTBOUND,
        "purpose": purpose,
        "delivery": delivery,
        "in_reply_to_id": in_reply_to_id,
        "flow": flow,
        "campaign": campaign,
        "agent_id": agent_id,
        "sent_at": sent_at,
        "created_at": now,
        "updated_at": now,
    }


def send_context(
    connection: Connection,
    subscriber: SubscriberRow,
    *,
    purpose: Purpose,
    now: datetime,
    replying: bool,
) -> policy.SendContext:
    """What the send policy needs to know about this text and its recipient, right now."""
    recent = (
        _recent_promotional(connection, subscriber.phone, now) if _capped(purpose, replying) else ()
    )
    return _context(subscriber, purpose, now, replying, recent)


def _context(
    subscriber: SubscriberRow,
    purpose: Purpose,
    now: datetime,
    replying: bool,
    recent_promotional: tuple[datetime, ...],
    place: Place | None = None,  # where they are, when the caller knows already
) -> policy.SendContext:
    """The policy's question about a text to `subscriber`, given their recent promotional texts."""
    zones, country, places = _where(subscriber) if place is None else place
    return policy.SendContext(
        purpose=purpose,
        recipient_status=subscriber.status,
        now=now,
        zones=zones,
        country=country,
        places=places,
        replying=replying,
        recent_promotional=recent_promotional,
    )


Place = tuple[tuple[str, ...], str | None, tuple[str, ...]]  # zones, country, places


def _where(subscriber: SubscriberRow) -> Place:
    """Where the policy judges a text to them: their zones, country and places."""
    phone, attributes = subscriber.phone, subscriber.attributes
    return (
        _zones(phone, subscriber.timezone, attributes),
        country_of(phone),
        places_for(phone, attributes.get("state")),
    )


class Where:
    """`_where` for a batch: people of one exchange, zone and state are in the same place."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, object, object, object], Place] = {}

    def __call__(self, subscriber: SubscriberRow) -> Place:
        attributes = subscriber.attributes
        key = (
            exchange_of(subscriber.phone),
            subscriber.timezone,
            attributes.get("timezone"),
            attributes.get("state"),
        )
        try:
            return self._known[key]
        except KeyError:
            pass
        except TypeError:  # an attribute that is a list or a map: no shortcut
            return _where(subscriber)
        place = self._known[key] = _where(subscriber)
        return place


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
_RECENT_MOMENT = func.coalesce(MESSAGES.c.sent_at, MESSAGES.c.send_after, MESSAGES.c.created_at)
_RECENT_FILTER = (
    MESSAGES.c.direction == Direction.OUTBOUND,
    MESSAGES.c.purpose == Purpose.PROMOTIONAL,
    ~status_in(MESSAGES.c.status, _NOT_GOING_OUT),  # written in: nothing to expand
)
_RECENT_PROMOTIONAL = DriverStatement(
    select(_RECENT_MOMENT).where(
        MESSAGES.c.phone == bindparam("phone"),
        *_RECENT_FILTER,
        # An old text sent again (`bot outbox retry`) is due anew: its send_after counts.
        or_(MESSAGES.c.created_at > bindparam("since"), MESSAGES.c.send_after > bindparam("since")),
    )
)


def _recent_promotional(connection: Connection, phone: str, now: datetime) -> tuple[datetime, ...]:
    """When promotional texts went (or are due to go) to this number in the last day or so."""
    moments = _RECENT_PROMOTIONAL.run(connection, {"phone": phone, "since": _since(now)}).scalars()
    return tuple(_aware(moment) for moment in moments)


def _since(now: datetime) -> datetime:
    # Rows queued up to a day before `now` may be deferred to within the window: look back 2 d.
    return now - timedelta(days=2)


def _recent_promotional_of(
    connection: Connection, phones: Sequence[str], judged: Sequence[datetime]
) -> dict[str, tuple[datetime, ...]]:
    """`_recent_promotional` for many numbers in one SELECT, each as of its own moment."""
    since_of = {moment: _since(moment) for moment in set(judged)}  # a batch has a moment or two
    earliest = {phone: since_of[moment] for phone, moment in zip(phones, judged, strict=True)}
    rows = _RECENT_PROMOTIONAL_OF.run(
        connection, {"phones": json_array(earliest), "since": min(earliest.values())}
    )
    found: dict[str, list[datetime]] = {}
    for phone, moment, created_at, send_after in rows:
        since = earliest[phone]
        if _aware(created_at) > since or (send_after is not None and _aware(send_after) > since):
            found.setdefault(phone, []).append(_aware(moment))
    return {phone: tuple(moments) for phone, moments in found.items()}


# The same question as _RECENT_PROMOTIONAL, for many numbers from the earliest moment on (each
# number's own window is applied after): one driver statement for any batch.
_RECENT_PROMOTIONAL_OF = DriverStatement(
    lambda dialect: where_in_bound(
        select(
            MESSAGES.c.phone,
            _RECENT_MOMENT.label("moment"),
            MESSAGES.c.created_at,
            MESSAGES.c.send_after,
        ).where(
            *_RECENT_FILTER,
            or_(
                MESSAGES.c.created_at > bindparam("since"),
                MESSAGES.c.send_after > bindparam("since"),
            ),
        ),
        MESSAGES.c.phone,
        dialect,
        "phones",
    )
)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def next_send_after(connection: Connection, limit: datetime) -> datetime | None:
    """The earliest moment a deferred outbox text becomes due, if no later than `limit`."""
    moment = connection.execute(
        select(func.min(MESSAGES.c.send_after)).where(
            status_is(MESSAGES.c.status, MessageStatus.PENDING),
            MESSAGES.c.send_after <= limit,
        )
    ).scalar_one_or_none()
    return None if moment is None else _aware(moment)


# On the webhook's path (a turn that reaches a call): a driver statement, a row at a time.
_TO_OUTBOX = DriverStatement(
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("message_id"), MESSAGES.c.delivery == Delivery.TWIML)
    .values(delivery=Delivery.OUTBOX, status=MessageStatus.PENDING, sent_at=None)
)


def move_to_outbox(connection: Connection, texts: Sequence[QueuedText]) -> list[int]:
    """Take TwiML replies out of the webhook's answer: they wait in the outbox instead, in order.

    Their policy verdict stands (they were judged as replies); returns their ids.
    """
    ids = [text.id for text in texts if text.status is MessageStatus.ACCEPTED]
    _TO_OUTBOX.run_many_later(connection, [{"message_id": message_id} for message_id in ids])
    return ids


def waiting_on_provider(connection: Connection) -> Waiting:
    """How many texts wait in the outbox because the provider failed them, and since when."""
    count, since = connection.execute(
        select(func.count(), func.min(MESSAGES.c.retrying_since)).where(WAITING_ON_PROVIDER)
    ).one()
    return Waiting(int(count), None if since is None else _aware(since))
