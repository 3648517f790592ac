"""What a customer's Shopify consent and profile mean for the person Parley texts. Pure."""

from __future__ import annotations

from collections.abc import Iterable

from bot.conversations.apply import AnyEffect
from bot.domain.effects import (
    ChangeStatus,
    ChangeTags,
    FillFirstName,
    RecordConsent,
    SetAttributes,
)
from bot.domain.vocabulary import ConsentKind, SubscriberStatus
from bot.shopify.topics import Customer, SmsConsent
from bot.store.subscribers import SubscriberRow

SOURCE = "shopify"  # the consent ledger's source for what the shop reported
STATE_ATTRIBUTE = "state"  # the default address's province code lands in this attribute


def confirmed(consent: SmsConsent | None) -> bool:
    """Subscribed, and confirmed by the person (Shopify's own double opt-in)."""
    return (
        consent is not None
        and consent.state == "subscribed"
        and consent.opt_in_level == "confirmed_opt_in"
    )


def needs_confirmation(consent: SmsConsent | None) -> bool:
    """Subscribed once only (single opt-in, or a level Shopify does not know): Parley asks."""
    return (
        consent is not None
        and consent.state == "subscribed"
        and consent.opt_in_level != "confirmed_opt_in"
    )


def withdrawn(consent: SmsConsent | None) -> bool:
    """The customer unsubscribed from texts at the shop."""
    return consent is not None and consent.state == "unsubscribed"


def customer_effects(customer: Customer, person: SubscriberRow) -> list[AnyEffect]:
    """Consent first (a status change comes before what it governs), then the profile.

    Only what changes something: a customers/update repeating what is known does nothing.
    """
    consent = customer.consent
    if person.status is SubscriberStatus.UNSUBSCRIBED:
        # Only the person can rejoin, by texting START; and an erased number's profile stays
        # blank.
        return []
    if withdrawn(consent):
        return [ChangeStatus(SubscriberStatus.UNSUBSCRIBED), RecordConsent(ConsentKind.OPT_OUT)]
    effects: list[AnyEffect] = []
    if confirmed(consent) and person.status is not SubscriberStatus.SUBSCRIBED:
        effects += [ChangeStatus(SubscriberStatus.SUBSCRIBED), RecordConsent(ConsentKind.OPT_IN)]
    return effects + _profile(customer, person)


def _profile(customer: Customer, person: SubscriberRow) -> list[AnyEffect]:
    effects: list[AnyEffect] = []
    if customer.first_name and not person.first_name:
        effects.append(FillFirstName(customer.first_name))
    new_tags = tuple(tag for tag in customer.tags if tag not in person.tags)
    if new_tags:
        effects.append(ChangeTags(add=new_tags))
    if customer.state and person.attributes.get(STATE_ATTRIBUTE) != customer.state:
        effects.append(SetAttributes({STATE_ATTRIBUTE: customer.state}))
    return effects


def described(effects: Iterable[AnyEffect]) -> list[str]:
    """The effects in a few words each, for the webhook's recorded outcome."""
    words: list[str] = []
    for effect in effects:
        match effect:
            case ChangeStatus(status=SubscriberStatus.SUBSCRIBED):
                words.append("subscribed")
            case ChangeStatus(status=SubscriberStatus.UNSUBSCRIBED):
                words.append("opted out")
            case FillFirstName(name=name):
                words.append(f"first name {name}")
            case ChangeTags(add=tags):
                words.append("tags " + ", ".join(tags))
            case SetAttributes(values=values):
                words.extend(f"{name} {value}" for name, value in values.items())
    return words
