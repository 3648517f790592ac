"""Conversation labels (`FLOWS_DIR/labels.yaml`): the labels agents put on conversations.

```yaml
labels:
  - name: vip                          # one word: letters, digits, - or _ (stored lower-case)
    description: A customer who spends a lot with us     # optional: shown as a hint
  - name: refund
```
Admins may create more in the inbox (`/inbox/labels`); those live in the database. Every
problem is reported as `file:line: message`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.domain.yamlsource import LocatedDict, LocatedList
from bot.engine.problems import Problem, did_you_mean, load_document

LABELS_FILE = "labels.yaml"  # in FLOWS_DIR, beside the flows (not a flow itself)
LABEL_KEYS = frozenset({"name", "description"})
LABEL_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
LABEL_RULE = "a label is one word of up to 32 letters, digits, - or _, e.g. vip"
_SHAPE = "a labels file holds `labels:`, a list of {name, description}"


def label_name(written: str) -> str | None:
    """The label as stored (lower-case, trimmed), or None when it is no label's name."""
    name = written.strip().lower()
    return name if LABEL_NAME.fullmatch(name) else None


@dataclass(frozen=True)
class FileLabel:
    """A label from the file: its name and what it is for."""

    name: str
    description: str = ""


@dataclass
class LabelsFile:
    """The labels file read: its labels (none when it has problems) and every problem."""

    file: str
    labels: tuple[FileLabel, ...] = ()
    problems: list[Problem] = field(default_factory=list)


def parse_labels(text: str, file: str) -> LabelsFile:
    """Read a labels file; problems are reported, not raised."""
    document, problems = load_document(text, file, _SHAPE)
    parsed = LabelsFile(file, problems=problems)
    if not document:  # unreadable, or empty: no file is no labels, and nothing wrong
        return parsed
    for key in sorted(set(document) - {"labels"}):
        problems.append(
            Problem(file, document.line_of(key), f"unknown key {key!r} (the file holds labels:)")
        )
    items = document.get("labels")
    if not isinstance(items, LocatedList):
        problems.append(Problem(file, document.line_of("labels"), _SHAPE))
        return parsed
    seen: dict[str, int] = {}
    labels: list[FileLabel] = []
    for item, line in zip(items, items.item_lines, strict=True):
        if not isinstance(item, LocatedDict):
            problems.append(Problem(file, line, "a label is a mapping: name, description"))
            continue
        for key in sorted(set(item) - LABEL_KEYS):
            problems.append(
                Problem(
                    file,
                    item.line_of(key),
                    f"unknown key {key!r}{did_you_mean(key, LABEL_KEYS)} (name, description)",
                )
            )
        raw = item.get("name")
        name = label_name(str(raw)) if isinstance(raw, str | int) else None
        where = item.line_of("name")
        if name is None:
            problems.append(Problem(file, where, LABEL_RULE))
            continue
        if seen.setdefault(name, where) != where:
            problems.append(Problem(file, where, f"label {name!r} is already on line {seen[name]}"))
            continue
        description = item.get("description", "")
        if not isinstance(description, str):
            problems.append(Problem(file, item.line_of("description"), "description is text"))
            continue
        labels.append(FileLabel(name, description.strip()))
    if not problems:
        parsed.labels = tuple(labels)
    return parsed
