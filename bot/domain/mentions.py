"""`@name` mentions in agents' notes: which colleagues a note names."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# After a space or the start, so an email address in a note (ana@acme.test) names nobody.
_MENTION = re.compile(r"(?:^|(?<=[\s(]))@([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class Colleague:
    """An agent a note can name: by their name's first word or their email's local part."""

    id: int
    name: str
    email: str

    @property
    def handles(self) -> frozenset[str]:
        """What `@…` names them, lower-case: "@ana" for Ana Agent or ana.s@acme.test."""
        first = self.name.split()[0].lower() if self.name.split() else ""
        local = self.email.partition("@")[0].lower()
        return frozenset(handle for handle in (first, local) if handle)


def mentioned_handles(text: str) -> list[str]:
    """The `@handles` a text writes, lower-case, in order, trailing dots and dashes dropped."""
    return [match.group(1).rstrip("._-").lower() for match in _MENTION.finditer(text)]


def mentioned(text: str, colleagues: Iterable[Colleague]) -> list[Colleague]:
    """The colleagues a text names with `@handle`, each once, in the order of the list given."""
    handles = set(mentioned_handles(text))
    return [colleague for colleague in colleagues if colleague.handles & handles]
