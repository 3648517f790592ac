"""Problems found in flow files, reported as `file:line: message`."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.domain.yamlsource import LocatedDict


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a flow file; errors stop it from loading, warnings do not."""

    file: str
    line: int
    message: str
    severity: Severity = Severity.ERROR
    column: int = 0  # 1-based; 0 when only the line is known

    def __str__(self) -> str:
        prefix = "" if self.severity is Severity.ERROR else "warning: "
        where = f"{self.line}:{self.column}" if self.column else str(self.line)
        return f"{self.file}:{where}: {prefix}{self.message}"


class FlowFileError(Exception):
    """Raised while reading a flow file; carries the line, the reader adds the file."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def article(word: str) -> str:
    """'a' or 'an', for messages such as "an ask step needs an id"."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """ " (did you mean 'score'?)" for the known name nearest a typo, or "" when none is near."""
    candidates = {candidate.lower(): candidate for candidate in known}
    nearest = difflib.get_close_matches(name.lower(), candidates, n=1, cutoff=0.6)
    return f" (did you mean {candidates[nearest[0]]!r}?)" if nearest else ""


def unknown_variable(name: str, known: Collection[str]) -> str:
    """What a flow or saved-reply check says of a `{name}` no template may use."""
    listed = ", ".join(sorted(known))
    return f"unknown template variable {{{name}}}{did_you_mean(name, known)} (known: {listed})"


def load_document(text: str, file: str, shape: str) -> tuple[LocatedDict | None, list[Problem]]:
    """A YAML file's top-level mapping, or the problem that says why there is none."""
    from bot.domain.yamlsource import LocatedDict, YamlError, load_yaml

    try:
        document = load_yaml(text)
    except YamlError as error:
        return None, [Problem(file, error.line, error.message, column=error.column)]
    if not isinstance(document, LocatedDict):
        return None, [Problem(file, 1, shape)]
    return document, []
