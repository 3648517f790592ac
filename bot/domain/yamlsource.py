"""YAML that remembers where each value came from, so every problem can name its line."""

from __future__ import annotations

import re
from typing import Any

import yaml


class YamlError(ValueError):
    """The text is not valid YAML; `line` and `column` are 1-based (column 0: unknown)."""

    def __init__(self, message: str, line: int, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


class LocatedDict(dict[str, Any]):
    """A mapping that knows its own line and the line of each key."""

    line: int
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        """The line where `key` was written, else the mapping's own line."""
        return self.key_lines.get(key, self.line)


class LocatedList(list[Any]):
    """A sequence that knows its line and the line of each item."""

    line: int
    item_lines: list[int]


MAX_VALUES = 100_000  # after aliases are expanded; a flow of 5 000 steps holds about 25 000


class _Loader(yaml.SafeLoader):
    """SafeLoader whose mappings and sequences carry line numbers; YES/NO/ON stay strings."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except YamlError:
            raise
        except ValueError as error:  # a date that is no date, an integer of 5 000 digits …
            written = str(node.value)
            shown = written if len(written) <= 40 else f"{written[:37]}…"
            raise YamlError(
                f"cannot read {shown!r}: {error} (quote it to keep it as text)",
                node.start_mark.line + 1,
            ) from None

    # The stubs promise dict[Hashable, Any]; our keys are always str, and dict is invariant, so
    # a LocatedDict (dict[str, Any]) can never match that promise though every caller is served.
    def construct_mapping(  # type: ignore[override]
        self, node: yaml.MappingNode, deep: bool = False
    ) -> LocatedDict:
        mapping = LocatedDict()
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            if key in mapping:
                raise YamlError(f"duplicate key '{key}'", key_node.start_mark.line + 1)
            mapping[key] = self.construct_object(value_node, deep=True)
            mapping.key_lines[key] = key_node.start_mark.line + 1
        return mapping

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LocatedList:
        items = LocatedList(self.construct_object(child, deep=True) for child in node.value)
        items.line = node.start_mark.line + 1
        items.item_lines = [child.start_mark.line + 1 for child in node.value]
        return items


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _Loader.construct_sequence)
# YAML 1.1 reads yes/no/on/off as booleans; a marketer writing "options: [Yes, No]" means words.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


class _TextLoader(_Loader):
    """Every unquoted scalar stays the text it was written as: no numbers, booleans or nulls."""


# Set after the class, as for _Loader: PyYAML declares this on instances, so no ClassVar here.
_TextLoader.yaml_implicit_resolvers = {}


def load_yaml(text: str, *, scalars_as_text: bool = False) -> Any:
    """Parse one YAML document; mappings and lists come back located.

    With `scalars_as_text`, every scalar is a string as written ("010", "yes", "~" included),
    for files that are lists of words rather than settings.
    """
    try:
        document = yaml.load(text, Loader=_TextLoader if scalars_as_text else _Loader)
    except YamlError:
        raise
    except RecursionError:
        raise YamlError("bad YAML: nested too deeply", 1) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 0)
        said = f"bad YAML: {error.problem or error.context}"
        raise YamlError(f"{said}{_advice(error)}", line, column) from None
    except yaml.YAMLError as error:
        raise YamlError(f"bad YAML: {error}", 1) from None
    _refuse_expansion_past(MAX_VALUES, document)
    return document


# PyYAML's wording of the mistakes people make most, and what to do about each.
_QUOTE_THE_COLON = "; a value with ': ' in it must be quoted, e.g. send: \"Hi: your order shipped\""
_INDENTATION = (
    "; check the indentation: keys of one mapping and items of one list start in the same "
    "column, indented with spaces"
)
_ADVICE = (
    ("mapping values are not allowed here", _QUOTE_THE_COLON),
    ("found character '\\t'", "; indent with spaces, not tabs"),
    ("did not find expected key", _INDENTATION),
    ("expected <block end>", _INDENTATION),
    ("did not find expected '-' indicator", _INDENTATION),
    ("found unexpected end of stream", "; a quote is opened and never closed"),
    ("did not find expected ',' or ']'", "; a [list] is not closed, or an item needs quotes"),
    ("did not find expected ',' or '}'", "; a {mapping} is not closed, or a value needs quotes"),
)


def _advice(error: yaml.MarkedYAMLError) -> str:
    """What to do about a YAML syntax error, for the mistakes people make most."""
    said = f"{error.context or ''} {error.problem or ''}"
    for wording, advice in _ADVICE:
        if wording in said:
            return advice
    return ""


def _refuse_expansion_past(budget: int, document: Any) -> None:
    """Aliases share one value among many places; a few lines can stand for billions of values
    ("billion laughs") that anything walking the document would then visit. Count the values as
    a walk would meet them, and stop at the budget."""
    pending = [document]
    while pending:
        budget -= 1
        if budget < 0:
            raise YamlError(f"the file stands for more than {MAX_VALUES} values (YAML aliases?)", 1)
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
