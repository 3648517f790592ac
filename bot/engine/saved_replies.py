"""Saved replies (`FLOWS_DIR/replies.yaml`): texts agents insert by typing `/shortcut`.

```yaml
replies:
  - shortcut: shipping                 # typed as /shipping in the reply box
    title: Shipping times              # what the picker shows
    text: "Hi {first_name|there}, orders ship within 1 business day. {brand}"
```
A text is a template with the variables of campaign texts: `{first_name|there}`, `{brand}`,
`{support}`, `{phone}`, `{attributes.NAME}`. It is filled in for the person of the conversation
when it is inserted, and sent as any reply (the send policy, the segment counter). Every
problem is reported as `file:line: message`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.domain.yamlsource import LocatedDict, LocatedList
from bot.engine.problems import Problem, did_you_mean, load_document, unknown_variable
from bot.engine.templates import Template, TemplateError, parse_template

REPLIES_FILE = "replies.yaml"  # in FLOWS_DIR, beside the flows (not a flow itself)
REPLY_KEYS = frozenset({"shortcut", "title", "text"})
# What a saved reply may name: the same as a campaign's text (bot/campaigns/parser.py).
REPLY_NAMES = frozenset({"brand", "first_name", "phone", "support", "attributes"})
SHORTCUT = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
MAX_TITLE = 80
_SHAPE = "a replies file holds `replies:`, a list of {shortcut, title, text}"


@dataclass(frozen=True)
class SavedReply:
    """One saved reply: its shortcut, the title the picker shows, and its template."""

    shortcut: str
    title: str
    text: Template
    line: int

    def render(self, variables: Mapping[str, object]) -> str:
        """The text filled in for one person."""
        return self.text.render(variables)


@dataclass
class RepliesFile:
    """The replies file read: its replies (none when it has problems) and every problem."""

    file: str
    replies: tuple[SavedReply, ...] = ()
    problems: list[Problem] = field(default_factory=list)

    def find(self, shortcut: str) -> SavedReply | None:
        """The reply with this shortcut (any case, with or without its "/")."""
        wanted = shortcut.strip().lstrip("/").lower()
        return next((reply for reply in self.replies if reply.shortcut == wanted), None)


def parse_replies(text: str, file: str) -> RepliesFile:
    """Read a replies file; problems are reported, not raised."""
    document, problems = load_document(text, file, _SHAPE)
    parsed = RepliesFile(file, problems=problems)
    if not document:  # unreadable, or empty: no file is no replies, and nothing wrong
        return parsed
    for key in sorted(set(document) - {"replies"}):
        parsed.problems.append(
            Problem(file, document.line_of(key), f"unknown key {key!r} (the file holds replies:)")
        )
    items = document.get("replies")
    if not isinstance(items, LocatedList):
        parsed.problems.append(Problem(file, document.line_of("replies"), _SHAPE))
        return parsed
    reader = _Reader(file, parsed.problems)
    replies = [reader.reply(item, line) for item, line in zip(items, items.item_lines, strict=True)]
    if not parsed.problems:
        parsed.replies = tuple(reply for reply in replies if reply is not None)
    return parsed


class _Reader:
    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems
        self.seen: dict[str, int] = {}  # shortcut -> the line of its first reply

    def problem(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))

    def reply(self, item: object, line: int) -> SavedReply | None:
        if not isinstance(item, LocatedDict):
            self.problem(line, "a saved reply is a mapping: shortcut, title, text")
            return None
        for key in sorted(set(item) - REPLY_KEYS):
            self.problem(
                item.line_of(key),
                f"unknown key {key!r}{did_you_mean(key, REPLY_KEYS)} "
                f"({', '.join(sorted(REPLY_KEYS))})",
            )
        shortcut = self._shortcut(item)
        title = self._title(item)
        template = self._text(item)
        if shortcut is None or title is None or template is None:
            return None
        return SavedReply(shortcut, title, template, item.line)

    def _shortcut(self, item: LocatedDict) -> str | None:
        line = item.line_of("shortcut")
        value = item.get("shortcut")
        written = str(value).strip().lstrip("/").lower() if value is not None else ""
        if not isinstance(value, str | int) or not SHORTCUT.fullmatch(written):
            self.problem(
                line,
                "shortcut must be one word of up to 32 letters, digits, - or _ "
                "(typed as /shortcut), e.g. shipping",
            )
            return None
        first = self.seen.setdefault(written, line)
        if first != line:
            self.problem(line, f"shortcut {written!r} is already used on line {first}")
            return None
        return written

    def _title(self, item: LocatedDict) -> str | None:
        value = item.get("title")
        if not isinstance(value, str) or not value.strip():
            self.problem(item.line_of("title"), "title needs some text: the picker shows it")
            return None
        if len(value.strip()) > MAX_TITLE:
            self.problem(item.line_of("title"), f"title: at most {MAX_TITLE} characters")
            return None
        return value.strip()

    def _text(self, item: LocatedDict) -> Template | None:
        line = item.line_of("text")
        value = item.get("text")
        if not isinstance(value, str) or not value.strip():
            self.problem(line, "text needs some text: it is what the reply box gets")
            return None
        try:
            template = parse_template(value.strip())
        except TemplateError as error:
            self.problem(line, f"text: {error.message}")
            return None
        unknown = sorted(template.names - REPLY_NAMES)
        for name in unknown:
            self.problem(line, unknown_variable(name, REPLY_NAMES))
        return None if unknown else template
