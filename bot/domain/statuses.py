"""The order a text's status moves in; a status never moves backwards."""

from __future__ import annotations

from bot.domain.vocabulary import MessageStatus

_RANK: dict[MessageStatus, int] = {
    MessageStatus.PENDING: 0,
    MessageStatus.UNKNOWN: 1,
    MessageStatus.ACCEPTED: 2,
    MessageStatus.QUEUED: 3,
    MessageStatus.SENDING: 4,
    MessageStatus.SENT: 5,
    MessageStatus.DELIVERED: 9,
    MessageStatus.UNDELIVERED: 9,
    MessageStatus.FAILED: 9,
    MessageStatus.SUPPRESSED: 9,
    MessageStatus.RECEIVED: 9,
}
FINAL_RANK = 9


def parse_provider_status(word: str) -> MessageStatus | None:
    """Our status for a provider's status word ("read" counts as delivered); None if unknown."""
    word = (word or "").strip().lower()
    if word == "read":
        return MessageStatus.DELIVERED
    if word == "canceled":
        return MessageStatus.FAILED
    try:
        return MessageStatus(word)
    except ValueError:
        return None


def is_final(status: MessageStatus) -> bool:
    """A final status is never overwritten."""
    return _RANK[status] >= FINAL_RANK


def advances(current: MessageStatus, new: MessageStatus) -> bool:
    """Whether moving from `current` to `new` is progress (late or repeated callbacks are not)."""
    return not is_final(current) and _RANK[new] > _RANK[current]
