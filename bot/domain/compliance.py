"""What JOIN, Y, STOP, START and HELP do to a subscriber: a match and a status in, effects out."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.effects import ChangeStatus, Effect, RecordConsent, Send
from bot.domain.keywords import KeywordKind, KeywordMatch
from bot.domain.vocabulary import ConsentKind, Purpose, SubscriberStatus


@dataclass(frozen=True)
class ComplianceTexts:
    """The carrier-required texts, worded with the brand's name and support contact."""

    brand: str
    support: str
    # What joining gets a person ("10% off your first order", INCENTIVE): the invitation to
    # confirm names it; the welcome flow's once-per-person coupon gives it.
    incentive: str = ""

    def help(self) -> str:
        return (
            f"{self.brand}: Help at {self.support}. Msg & data rates may apply. "
            "Reply STOP to opt out."
        )

    def opted_out(self) -> str:
        return (
            f"{self.brand}: You are unsubscribed and will get no more messages. "
            "Reply START to resubscribe."
        )

    def confirm_join(self, reward: str | None = None) -> str:
        """The double opt-in invitation, naming what confirming gets (an offer, the incentive)."""
        reward = (reward or self.incentive).strip()
        gets = f" and get {reward}" if reward else ""
        return (
            f"{self.brand}: Reply Y to confirm you want recurring marketing texts{gets}. "
            "Msg & data rates may apply. Reply HELP for help, STOP to cancel."
        )

    def subscribed(self) -> str:
        return (
            f"{self.brand}: You are subscribed! Msg frequency varies. Msg & data rates may "
            "apply. Reply HELP for help, STOP to opt out."
        )

    def already_subscribed(self) -> str:
        return f"{self.brand}: You are already subscribed. Reply HELP for help, STOP to opt out."


@dataclass(frozen=True)
class KeywordOutcome:
    """The effects of a keyword; `handled` False means the text is for flows or a human."""

    effects: tuple[Effect, ...] = ()
    handled: bool = True


NOT_A_KEYWORD = KeywordOutcome(handled=False)


def handle_keyword(
    match: KeywordMatch,
    status: SubscriberStatus,
    texts: ComplianceTexts,
    *,
    provider_replied: bool = False,
) -> KeywordOutcome:
    """Apply the consent rules. `provider_replied`: Twilio Advanced Opt-Out already answered."""
    outcome = _RULES.get(match.kind, _not_a_keyword)(match, status, texts)
    if provider_replied:
        return KeywordOutcome(
            tuple(effect for effect in outcome.effects if not isinstance(effect, Send)),
            outcome.handled,
        )
    return outcome


def _opt_out(
    match: KeywordMatch, status: SubscriberStatus, texts: ComplianceTexts
) -> KeywordOutcome:
    record = RecordConsent(ConsentKind.OPT_OUT, match.keyword)
    if status is SubscriberStatus.UNSUBSCRIBED:
        # Already out: the ledger notes the request; the one confirmation was sent before.
        return KeywordOutcome((record,))
    return KeywordOutcome(
        (
            ChangeStatus(SubscriberStatus.UNSUBSCRIBED),
            record,
            Send(texts.opted_out(), Purpose.COMPLIANCE),
        )
    )


def invite_to_offer(
    keyword: str, promise: str, status: SubscriberStatus, texts: ComplianceTexts
) -> KeywordOutcome:
    """What a keyword offer's word does for someone who is not subscribed: a new or pending
    number is invited to join (the double opt-in, naming the offer; the ledger keeps the
    keyword, so the offer follows the Y); an opted-out number gets nothing.

    Nothing reaches a number after its STOP but the one confirmation (and Twilio refuses any
    text to it until START), so an offer cannot even invite it back.
    """
    if status is SubscriberStatus.UNSUBSCRIBED:
        return KeywordOutcome()
    return _join(KeywordMatch(KeywordKind.JOIN, keyword, None), status, texts, promise)


def _join(
    match: KeywordMatch,
    status: SubscriberStatus,
    texts: ComplianceTexts,
    reward: str | None = None,
) -> KeywordOutcome:
    if status is SubscriberStatus.SUBSCRIBED:
        return KeywordOutcome((Send(texts.already_subscribed(), Purpose.COMPLIANCE),))
    return KeywordOutcome(
        (
            ChangeStatus(SubscriberStatus.PENDING),
            RecordConsent(ConsentKind.OPT_IN_REQUESTED, match.keyword),
            Send(texts.confirm_join(reward), Purpose.COMPLIANCE),
        )
    )


def _subscribe(match: KeywordMatch, texts: ComplianceTexts) -> KeywordOutcome:
    return KeywordOutcome(
        (
            ChangeStatus(SubscriberStatus.SUBSCRIBED),
            RecordConsent(ConsentKind.OPT_IN, match.keyword),
            Send(texts.subscribed(), Purpose.COMPLIANCE),
        )
    )


def _opt_in(
    match: KeywordMatch, status: SubscriberStatus, texts: ComplianceTexts
) -> KeywordOutcome:
    if status is SubscriberStatus.UNSUBSCRIBED:
        return _subscribe(match, texts)  # they consented before; START restores it
    # Someone who never consented gets the double opt-in, like JOIN.
    return _join(match, status, texts)


def _confirm(
    match: KeywordMatch, status: SubscriberStatus, texts: ComplianceTexts
) -> KeywordOutcome:
    if status in (SubscriberStatus.PENDING, SubscriberStatus.UNSUBSCRIBED):
        return _subscribe(match, texts)
    return NOT_A_KEYWORD  # a plain "yes" is an answer for a flow, not a consent change


def _help(
    _match: KeywordMatch, _status: SubscriberStatus, texts: ComplianceTexts
) -> KeywordOutcome:
    return KeywordOutcome((Send(texts.help(), Purpose.COMPLIANCE),))


def _not_a_keyword(*_args: object) -> KeywordOutcome:
    return NOT_A_KEYWORD


_RULES = {
    KeywordKind.OPT_OUT: _opt_out,
    KeywordKind.JOIN: _join,
    KeywordKind.OPT_IN: _opt_in,
    KeywordKind.CONFIRM: _confirm,
    KeywordKind.HELP: _help,
}
