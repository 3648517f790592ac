"""A stored webhook's work: each topic's plain value handed to the conversation service (events,
consent and profile), to privacy erasure, or recorded for the operator.

Every step can be repeated: events carry external ids built on Shopify's own (a checkout's
token, an order's id), consent changes only what differs, erasure of an erased number is
skipped. So a try that died half-way is simply made again.
"""

from __future__ import annotations

import json
import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from bot.campaigns.conversions import ORDER_EVENT
from bot.conversations.events import event_phone
from bot.conversations.service import EventOutcome
from bot.conversations.signup import OptedOutBySms
from bot.domain.vocabulary import ShopifyWebhookStatus as Status
from bot.domain.vocabulary import SubscriberStatus
from bot.privacy.bulk import erase_events, erase_subscriber, erased_already
from bot.shopify import received, topics
from bot.shopify.consent import (
    SOURCE,
    confirmed,
    customer_effects,
    described,
    needs_confirmation,
    withdrawn,
)
from bot.shopify.received import Claimed, Handled
from bot.shopify.topics import (
    Checkout,
    Customer,
    CustomerRedaction,
    DataRequest,
    Order,
    ShopRedaction,
    Unusable,
)
from bot.store.db import transaction
from bot.store.subscribers import get_subscriber

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from bot.services import Services

log = logging.getLogger(__name__)

CART_EVENT = "cart_abandoned"  # what the shipped abandoned_cart flow is triggered by
CHECKOUT_COMPLETED_EVENT = "checkout_completed"  # ends it, as order_placed does
OPTED_OUT = "not subscribed: the number opted out; only its owner can rejoin, by texting START"


def cart_event_id(token: str) -> str:
    """The cart_abandoned event of a checkout: one per checkout, however often it is updated."""
    return f"shopify:checkout:{token}"


def handle(services: Services, claimed: Claimed) -> Handled:
    """Do what a stored webhook asks; raises only when something broke (the try is retried)."""
    if claimed.body is None:
        return Handled(Status.IGNORED, "its data was erased before it was handled")
    payload: Any = json.loads(claimed.body)
    value = topics.read(claimed.topic, payload, default_country=services.settings.DEFAULT_COUNTRY)
    match value:
        case Unusable(reason=reason):
            return Handled(Status.IGNORED, reason)
        case Checkout(completed=True):
            return _end_reminders(services, value)
        case Checkout():
            return _start_reminders(services, value)
        case Order():
            return _order(services, value)
        case Customer():
            return _customer(services, value)
        case CustomerRedaction():
            return _erase_customer(services, value)
        case ShopRedaction():
            return _erase_shop(services, value, claimed.shop_domain)
        case DataRequest():
            return _data_request(value)


def _start_reminders(services: Services, checkout: Checkout) -> Handled:
    """A subscribed person's checkout starts the cart reminders, once per checkout."""
    with services.db.connect() as connection:
        if received.order_received(connection, checkout.token):
            return Handled(Status.IGNORED, "its order came first: no reminders")
        phone = _first(connection, checkout.phones, subscribed=True)
    if phone is None:
        # Their numbers are not kept: they are nobody Parley texts.
        log.info("checkout %s: nobody subscribed among %s", checkout.token, checkout.phones)
        return Handled(
            Status.IGNORED, f"nobody subscribed among its {len(checkout.phones)} numbers"
        )
    outcome = services.conversations.handle_event(
        phone, CART_EVENT, checkout.event_data(), external_id=cart_event_id(checkout.token)
    )
    return _posted(CART_EVENT, outcome, phone)


def _end_reminders(services: Services, checkout: Checkout) -> Handled:
    """A completed checkout ends the reminders it started."""
    with services.db.connect() as connection:
        phone = event_phone(connection, cart_event_id(checkout.token))
    if phone is None:
        return Handled(Status.IGNORED, "completed; no reminders were started for it")
    outcome = services.conversations.handle_event(
        phone,
        CHECKOUT_COMPLETED_EVENT,
        {"checkout_token": checkout.token, "source": SOURCE},
        external_id=f"shopify:checkout-completed:{checkout.token}",
    )
    return _posted(CHECKOUT_COMPLETED_EVENT, outcome, phone)


def _order(services: Services, order: Order) -> Handled:
    """An order ends its checkout's reminders and is credited to campaigns (order_placed)."""
    with services.db.connect() as connection:
        # Whose reminders its checkout started, else the first of its numbers we know.
        phone = None
        if order.checkout_token is not None:
            phone = event_phone(connection, cart_event_id(order.checkout_token))
        phone = phone or _first(connection, order.phones, subscribed=False)
    if phone is None:
        # Nobody Parley texts: no reminders to end, no campaign to credit, no row to create.
        return Handled(Status.IGNORED, "not a number Parley knows")
    outcome = services.conversations.handle_event(
        phone, ORDER_EVENT, order.event_data(), external_id=f"shopify:order:{order.order_id}"
    )
    amount = f"amount {order.amount}" if order.amount is not None else "no amount"
    return _posted(ORDER_EVENT, outcome, phone, amount)


def _customer(services: Services, customer: Customer) -> Handled:
    """SMS consent kept in sync; first name, tags and state into the profile."""
    phone, consent = customer.phone, customer.consent
    with services.db.connect() as connection:
        known = get_subscriber(connection, phone) is not None
    if not known and not (confirmed(consent) or needs_confirmation(consent) or withdrawn(consent)):
        state = consent.state if consent else "none"
        return Handled(Status.IGNORED, f"not an SMS subscriber (consent {state})")
    notes: list[str] = []
    message_ids: list[int] = []
    consent_words = consent.words() if consent is not None else None
    if consent_words is not None and needs_confirmation(consent):
        try:
            signup = services.conversations.sign_up(
                phone, source=SOURCE, consent_text=consent_words, first_name=customer.first_name
            )
        except OptedOutBySms:
            notes.append(OPTED_OUT)
        else:
            message_ids.extend(signup.message_ids)
            if signup.created:
                notes.append("double opt-in text queued")
    update = services.conversations.update_person(
        phone, partial(customer_effects, customer), source=SOURCE, consent_text=consent_words
    )
    message_ids.extend(update.message_ids)
    notes.extend(described(update.effects))
    if confirmed(consent) and update.status is SubscriberStatus.UNSUBSCRIBED:
        notes.append(OPTED_OUT)
    return Handled(Status.DONE, "; ".join(notes) or "nothing changed", phone, tuple(message_ids))


def _erase_customer(services: Services, redaction: CustomerRedaction) -> Handled:
    """customers/redact: erase the person as `bot subscribers erase` does, and their orders."""
    orders = erase_events(
        services.db, [f"shopify:order:{order_id}" for order_id in redaction.order_ids]
    )
    if redaction.phone is None:
        return Handled(Status.DONE, f"no phone: nothing stored by number; {orders} orders blanked")
    phone = redaction.phone
    with services.db.connect() as connection:
        already = erased_already(connection, phone)
    erased = not already and erase_subscriber(services.db, phone, services.conversations.clock())
    state = "erased" if erased else "erased before" if already else "nothing stored"
    return Handled(Status.DONE, f"{state}; {orders} orders blanked", phone)


def _erase_shop(services: Services, redaction: ShopRedaction, sender: str | None) -> Handled:
    """shop/redact: erase every number the shop's webhooks told Parley about."""
    shop = sender or redaction.shop_domain
    if shop is None:
        return Handled(Status.IGNORED, "no shop domain: whose data to erase is unknown")
    with transaction(services.db) as connection:
        received.forget_shop_bodies(connection, shop)
        phones = received.phones_of_shop(connection, shop)
    erased = 0
    for phone in phones:  # one transaction each: a retry after a crash goes on where it stopped
        with services.db.connect() as connection:
            if erased_already(connection, phone):
                continue
        erased += erase_subscriber(services.db, phone, services.conversations.clock())
    log.warning("shop/redact for %s: %d of %d numbers erased", shop, erased, len(phones))
    return Handled(Status.DONE, f"{shop}: {erased} of {len(phones)} numbers erased")


def _data_request(request: DataRequest) -> Handled:
    """customers/data_request: recorded for the operator, who answers it."""
    who = f"customer {request.customer_id or '?'}"
    if request.phone is None:
        answer = "no phone: Parley keeps people by number, so it holds nothing on them"
    else:
        answer = f"answer it with: bot subscribers show {request.phone}"
    outcome = f"data request {request.request_id or '?'} for {who}: {answer}"
    log.warning("Shopify %s", outcome)
    return Handled(Status.DONE, outcome, request.phone)


def _first(connection: Connection, phones: tuple[str, ...], *, subscribed: bool) -> str | None:
    """The first number that is a subscriber we know (and subscribed, if asked)."""
    for phone in phones:
        row = get_subscriber(connection, phone)
        if row is not None and (not subscribed or row.status == SubscriberStatus.SUBSCRIBED):
            return phone
    return None


def _posted(event_type: str, outcome: EventOutcome, phone: str, note: str = "") -> Handled:
    """An event the work posted (or had posted at an earlier try, or delivery)."""
    already = "already " if outcome.duplicate else ""
    detail = f", {note}" if note else ""
    return Handled(
        Status.DONE,
        f"{event_type} {already}posted (event {outcome.event_id}{detail})",
        phone,
        tuple(outcome.message_ids),
    )
