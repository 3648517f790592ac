"""A small, safe expression language for the branch conditions of flow files."""

# Why a hand-written parser and not ast.parse + a whitelist: Python's grammar leaks into the
# language (keywords like `from` can't be keys, `1 if a else b` parses, its messages talk about
# Python), and columns would have to be mapped from UTF-8 byte offsets. Here the only things
# that can run are the closures built below, and the only way into a value is Mapping.get:
# no getattr, no indexing, no eval/exec/compile, so there is no path to Python internals.

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple, TypeGuard

MAX_SOURCE_LENGTH = 500
MAX_DEPTH = 50  # nesting of the parse and of the built tree; keeps recursion far from the limit
IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"

Variables = Mapping[str, object]
Evaluator = Callable[[Variables], object]


class SourceError(ValueError):
    """A mistake in a short source text: .message says what, .column (0-based) says where."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message, column)
        self.message = message
        self.column = column

    def __str__(self) -> str:
        return f"{self.message} (column {self.column})"


class ExpressionError(SourceError):
    """Bad expression; .message says what, .column (0-based offset into the source) says where."""


@dataclass(frozen=True)
class Expression:
    """A parsed condition, ready to evaluate against a conversation's variables."""

    source: str
    names: frozenset[str]  # the top-level variable names it reads
    _evaluate: Evaluator = field(repr=False, compare=False)
    # (variable, text) for each `name == "text"` (or !=, in, not in a list of texts): the
    # checker tells a text that is none of a choice's options from a real one.
    compared: frozenset[tuple[str, str]] = frozenset()

    def evaluate(self, variables: Variables) -> object:
        """The expression's value; missing names are null and type mismatches never raise."""
        return self._evaluate(variables)

    def test(self, variables: Variables) -> bool:
        """Whether the expression holds (its value is truthy); never raises."""
        try:
            return truthy(self._evaluate(variables))
        except Exception:  # a condition must never take a conversation down
            return False


def lookup(variables: Variables, path: Sequence[str]) -> object:
    """The value at a dotted path through nested mappings, or None where any step is missing."""
    value: object = variables
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def truthy(value: object) -> bool:
    """Python truthiness, except that a value whose __bool__ fails counts as false."""
    try:
        return bool(value)
    except Exception:
        return False


# --- values ---------------------------------------------------------------------------------


def _is_number(value: object) -> TypeGuard[int | float]:
    # bool is an int subclass, but true + 1 or true < 2 would surprise a flow author.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if _is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    return "mapping" if isinstance(value, Mapping) else type(value).__name__


def _equals(left: object, right: object) -> bool:
    if _kind(left) != _kind(right):
        return False
    try:
        return bool(left == right)
    except Exception:
        return False


def _not_equals(left: object, right: object) -> bool:
    return not _equals(left, right)


def _ordered(
    compare: Callable[[float | str, float | str], object],
) -> Callable[[object, object], bool]:
    def apply(left: object, right: object) -> bool:
        if (_is_number(left) and _is_number(right)) or (
            isinstance(left, str) and isinstance(right, str)
        ):
            return bool(compare(left, right))
        return False

    return apply


def _member(needle: object, haystack: object) -> bool:
    if isinstance(haystack, str):
        return isinstance(needle, str) and needle in haystack
    if isinstance(haystack, list | tuple):
        return any(_equals(needle, item) for item in haystack)
    if isinstance(haystack, Mapping):
        return isinstance(needle, str) and needle in haystack
    return False


def _not_member(needle: object, haystack: object) -> bool:
    return not _member(needle, haystack)


def _numeric(compute: Callable[[object, object], object]) -> Callable[[object, object], object]:
    def apply(left: object, right: object) -> object:
        if not (_is_number(left) and _is_number(right)):
            return None
        try:
            return compute(left, right)
        except ArithmeticError:  # division by zero, or an int too large for a float
            return None

    return apply


_add_numbers = _numeric(operator.add)


def _add(left: object, right: object) -> object:
    if isinstance(left, str) and isinstance(right, str):
        return left + right
    return _add_numbers(left, right)


def _negate(value: object) -> object:
    return -value if _is_number(value) else None


# --- functions ------------------------------------------------------------------------------

_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER_TEXT = re.compile(r"[+-]?\d+")


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else None


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else None


def _length(value: object) -> object:
    return len(value) if isinstance(value, str | list | tuple | Mapping) else None


def _number(value: object) -> object:
    if _is_number(value):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    # The regexes keep out what int()/float() would also accept: "1_000", "nan", "infinity".
    try:
        if _INTEGER_TEXT.fullmatch(text):
            return int(text)
        if _NUMBER_TEXT.fullmatch(text):
            number = float(text)
            return number if math.isfinite(number) else None
    except ValueError:  # more digits than int() will convert
        return None
    return None


def _same_ignoring_case(left: object, right: object) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    return _equals(left, right)


def _contains(haystack: object, needle: object) -> bool:
    if isinstance(haystack, str):
        return isinstance(needle, str) and needle.casefold() in haystack.casefold()
    if isinstance(haystack, list | tuple):
        return any(_same_ignoring_case(item, needle) for item in haystack)
    return False


class _Function(NamedTuple):
    apply: Callable[..., object]
    arity: int


FUNCTIONS: dict[str, _Function] = {
    "contains": _Function(_contains, 2),
    "len": _Function(_length, 1),
    "lower": _Function(_lower, 1),
    "number": _Function(_number, 1),
    "upper": _Function(_upper, 1),
}

# --- tokens ---------------------------------------------------------------------------------

_TOKEN = re.compile(
    rf"""
    (?P<space>\s+)
    | (?P<number>(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\w*)
    | (?P<name>{IDENTIFIER})
    | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<op>\*\*|//|:=|&&|\|\||==|!=|<=|>=|[-<>+*/%()\[\],.=!{{}}:&|^~@;])
    """,
    re.VERBOSE | re.DOTALL,
)
_VALID_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_STRING_PREFIXES = frozenset({"f", "r", "b", "u", "rb", "br", "fr", "rf"})
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t"}


class _Token(NamedTuple):
    kind: str  # number, string, name, op, end
    text: str
    column: int
    value: object = None  # the value of a number or string literal


def _unescape(body: str, column: int) -> str:
    def replace(match: re.Match[str]) -> str:
        escaped = _ESCAPES.get(match.group(1))
        if escaped is None:
            raise ExpressionError(
                f"unknown escape '\\{match.group(1)}' in a string; write \\\\ for a backslash",
                column + match.start(),
            )
        return escaped

    return _ESCAPE.sub(replace, body)


def _number_value(text: str, column: int) -> int | float:
    if not _VALID_NUMBER.fullmatch(text):
        raise ExpressionError(f"invalid number '{text}'", column)
    if text.isdigit():
        return int(text)
    return float(text)


def _quoted_at(source: str, position: int) -> bool:
    return source[position : position + 1] in ("'", '"')


def _tokens(source: str) -> Iterator[_Token]:
    position = 0
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None:
            char = source[position]
            if char in "\"'":
                raise ExpressionError("unterminated string: it needs a closing quote", position)
            raise ExpressionError(f"unexpected character {char!r}", position)
        kind, text = match.lastgroup or "", match.group()
        if kind == "number":
            yield _Token(kind, text, position, _number_value(text, position))
        elif kind == "string":
            yield _Token(kind, text, position, _unescape(text[1:-1], position + 1))
        elif (
            kind == "name" and text.lower() in _STRING_PREFIXES and _quoted_at(source, match.end())
        ):
            raise ExpressionError(
                f'string prefixes like {text}"..." are not supported; use plain quotes', position
            )
        elif kind != "space":
            yield _Token(kind, text, position)
        position = match.end()
    yield _Token("end", "", len(source))


# --- parser ---------------------------------------------------------------------------------

# Binding powers, weakest first, as in Python: `not a == b` is `not (a == b)`.
_OR, _AND, _NOT, _COMPARE, _SUM, _PRODUCT, _UNARY = range(1, 8)

_COMPARISONS: dict[str, Callable[[object, object], bool]] = {
    "==": _equals,
    "!=": _not_equals,
    "<": _ordered(operator.lt),
    "<=": _ordered(operator.le),
    ">": _ordered(operator.gt),
    ">=": _ordered(operator.ge),
    "in": _member,
    "not in": _not_member,
}
_EQUALITIES = frozenset({"==", "!=", "in", "not in"})
_ARITHMETIC: dict[str, tuple[int, Callable[[object, object], object]]] = {
    "+": (_SUM, _add),
    "-": (_SUM, _numeric(operator.sub)),
    "*": (_PRODUCT, _numeric(operator.mul)),
    "/": (_PRODUCT, _numeric(operator.truediv)),
    "%": (_PRODUCT, _numeric(operator.mod)),
}
_POWERS: dict[str, int] = {
    "or": _OR,
    "and": _AND,
    **dict.fromkeys(_COMPARISONS, _COMPARE),
    **{symbol: power for symbol, (power, _) in _ARITHMETIC.items()},
}
_CONSTANTS: dict[str, object] = {
    "true": True,
    "True": True,
    "false": False,
    "False": False,
    "null": None,
    "None": None,
}
_CONDITIONAL = "conditional expressions (a if b else c) are not supported; use 'and' / 'or'"
# What people coming from Python or JavaScript may try, and what to write instead.
_HINTS = {
    "=": "'=' assigns; use '==' to compare",
    "!": "'!' is not supported; use 'not'",
    "&&": "'&&' is not supported; use 'and'",
    "&": "'&' is not supported; use 'and'",
    "||": "'||' is not supported; use 'or'",
    "|": "'|' is not supported; use 'or'",
    "**": "'**' (power) is not supported",
    "//": "'//' is not supported; use '/'",
    ":=": "':=' (assignment) is not supported",
    ":": "':' is not supported: there are no slices, dicts or lambdas",
    "{": "'{' is not supported: there are no dicts or sets",
    "}": "'}' is not supported: there are no dicts or sets",
    "lambda": "lambdas are not supported",
    "for": "comprehensions are not supported; test membership with 'in' and a list",
    "if": _CONDITIONAL,
    "else": _CONDITIONAL,
    "is": "'is' is not supported; use '==' or '!='",
    "import": "'import' is not supported",
}
_INDEXING = "'[' indexing is not supported; use dots: event.amount"
_ATTRIBUTE = "'.' only works on variable names, like event.amount"
_CLOSERS = {"(": ")", "[": "]"}


@dataclass(frozen=True)
class _Node:
    evaluate: Evaluator
    depth: int
    variable: str | None = None  # a plain name such as `confirm` (not `event.amount`)
    texts: tuple[str, ...] = ()  # a string constant, or a list of them


def _describe(token: _Token) -> str:
    if token.kind == "op" or token.text in ("and", "or", "not", "in"):
        return f"'{token.text}'"
    if token.kind == "name":
        return f"name '{token.text}'"
    return f"{token.kind} {token.text}"


class _Parser:
    """A Pratt parser that turns tokens straight into evaluator closures."""

    def __init__(self, source: str) -> None:
        self.tokens = list(_tokens(source))
        self.index = 0
        self.nesting = 0
        self.names: set[str] = set()
        self.compared: set[tuple[str, str]] = set()

    @property
    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def unexpected(self, token: _Token, expected: str) -> ExpressionError:
        if token.kind == "end":
            return ExpressionError(
                f"unexpected end of expression; expected {expected}", token.column
            )
        hint = _HINTS.get(token.text) if token.kind in ("op", "name") else None
        message = hint or f"expected {expected}, found {_describe(token)}"
        return ExpressionError(message, token.column)

    def node(self, evaluate: Evaluator, children: Sequence[_Node], column: int) -> _Node:
        depth = 1 + max((child.depth for child in children), default=0)
        if depth > MAX_DEPTH:
            raise self.too_deep(column)
        return _Node(evaluate, depth)

    def too_deep(self, column: int) -> ExpressionError:
        return ExpressionError(
            f"expression is nested too deeply (more than {MAX_DEPTH} levels); simplify it",
            column,
        )

    def parse(self) -> _Node:
        root = self.expression(0)
        if self.peek.kind != "end":
            raise self.unexpected(self.peek, "an operator or the end of the expression")
        return root

    def expression(self, min_power: int) -> _Node:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise self.too_deep(self.peek.column)
        left = self.prefix()
        while True:
            operator_text = self.infix_operator()
            if operator_text is None:
                break
            power = _POWERS[operator_text]
            if power <= min_power:
                break
            if power in (_OR, _AND):
                left = self.boolean(operator_text, power, left)
            elif power == _COMPARE:
                left = self.comparison(left)
            else:
                left = self.arithmetic(operator_text, left)
        self.nesting -= 1
        return left

    def infix_operator(self) -> str | None:
        """The binary operator at the cursor, without consuming it; None when there is none."""
        token = self.peek
        if token.kind == "op":
            if token.text in _ARITHMETIC or token.text in _COMPARISONS:
                return token.text
            if token.text == "[":
                raise ExpressionError(_INDEXING, token.column)
            if token.text == ".":
                raise ExpressionError(_ATTRIBUTE, token.column)
            if token.text == "(":
                raise ExpressionError(
                    f"only these functions can be called: {', '.join(FUNCTIONS)}", token.column
                )
        elif token.kind == "name":
            if token.text in ("and", "or", "in"):
                return token.text
            # Never out of range: the last token is always "end".
            following = self.tokens[self.index + 1]
            if token.text == "not" and following.kind == "name" and following.text == "in":
                return "not in"
        return None

    def consume_operator(self, operator_text: str) -> None:
        self.advance()
        if operator_text == "not in":
            self.advance()  # the two-word operator is two tokens

    def boolean(self, operator_text: str, power: int, first: _Node) -> _Node:
        # `a or b or c` is one node, not a chain, so long lists of alternatives stay shallow.
        operands = [first]
        column = self.peek.column
        while self.infix_operator() == operator_text:
            self.advance()
            operands.append(self.expression(power))
        evaluators = tuple(operand.evaluate for operand in operands)
        stop_when = operator_text == "or"  # `or` stops at the first truthy value, `and` at a falsy

        def evaluate(variables: Variables) -> object:
            value: object = None
            for operand in evaluators:
                value = operand(variables)
                if truthy(value) is stop_when:
                    return value
            return value

        return self.node(evaluate, operands, column)

    def comparison(self, first: _Node) -> _Node:
        # Chained like Python: a < b <= c means a < b and b <= c.
        operands = [first]
        compares: list[Callable[[object, object], bool]] = []
        column = self.peek.column
        while True:
            operator_text = self.infix_operator()
            if operator_text is None or operator_text not in _COMPARISONS:
                break
            self.consume_operator(operator_text)
            compares.append(_COMPARISONS[operator_text])
            operands.append(self.expression(_COMPARE))
            if operator_text in _EQUALITIES:
                self.note_comparison(operands[-2], operands[-1], operator_text)
        evaluators = tuple(operand.evaluate for operand in operands)
        steps = tuple(zip(compares, evaluators[1:], strict=True))
        head = evaluators[0]

        def evaluate(variables: Variables) -> object:
            left = head(variables)
            for compare, right_evaluator in steps:
                right = right_evaluator(variables)
                if not compare(left, right):
                    return False
                left = right
            return True

        return self.node(evaluate, operands, column)

    def note_comparison(self, left: _Node, right: _Node, operator_text: str) -> None:
        # `"AGENT" in confirm` looks inside the answer: only `confirm in [...]` names options.
        pairs = [(left, right)] if "in" in operator_text else [(left, right), (right, left)]
        for named, constant in pairs:
            if named.variable is not None:
                self.compared.update((named.variable, text) for text in constant.texts)

    def arithmetic(self, operator_text: str, left: _Node) -> _Node:
        token = self.advance()
        power, compute = _ARITHMETIC[operator_text]
        right = self.expression(power)
        left_evaluate, right_evaluate = left.evaluate, right.evaluate
        return self.node(
            lambda variables: compute(left_evaluate(variables), right_evaluate(variables)),
            (left, right),
            token.column,
        )

    def prefix(self) -> _Node:
        token = self.advance()
        if token.kind == "string":
            return _Node(lambda variables: token.value, 1, texts=(str(token.value),))
        if token.kind == "number":
            return _constant(token.value)
        if token.kind == "op":
            if token.text == "-":
                operand = self.expression(_UNARY)
                operand_evaluate = operand.evaluate
                return self.node(
                    lambda variables: _negate(operand_evaluate(variables)), (operand,), token.column
                )
            if token.text == "(":
                inner = self.expression(0)
                self.close(token)
                return inner
            if token.text == "[":
                items = self.sequence(token)
                evaluators = tuple(item.evaluate for item in items)
                listed = self.node(
                    lambda variables: [item(variables) for item in evaluators], items, token.column
                )
                return replace(listed, texts=tuple(text for item in items for text in item.texts))
        if token.kind == "name":
            if token.text in _CONSTANTS:
                return _constant(_CONSTANTS[token.text])
            if token.text == "not":
                operand = self.expression(_NOT)
                operand_evaluate = operand.evaluate
                return self.node(
                    lambda variables: not truthy(operand_evaluate(variables)),
                    (operand,),
                    token.column,
                )
            if token.text not in _HINTS and token.text not in ("and", "or", "in"):
                return self.name(token)
        raise self.unexpected(token, "an expression")

    def name(self, first: _Token) -> _Node:
        parts = [first]
        while self.at("."):
            self.advance()
            part = self.advance()
            if part.kind != "name":
                raise self.unexpected(part, "a name after '.'")
            parts.append(part)
        if self.at("("):
            return self.call(first, ".".join(part.text for part in parts))
        for part in parts:
            # Lookups only go through Mapping.get, so this is belt and braces, not the lock.
            if part.text.startswith("__"):
                raise ExpressionError("names starting with '__' are not allowed", part.column)
        path = [part.text for part in parts]
        self.names.add(path[0])
        if len(path) == 1:
            key = path[0]
            return _Node(lambda variables: variables.get(key), 1, variable=key)
        keys = tuple(path)
        return _Node(lambda variables: lookup(variables, keys), 1)

    def call(self, name_token: _Token, name: str) -> _Node:
        function = FUNCTIONS.get(name)
        if function is None:
            raise ExpressionError(
                f"unknown function '{name}'; the functions are {', '.join(FUNCTIONS)}",
                name_token.column,
            )
        arguments = self.sequence(self.advance())
        if len(arguments) != function.arity:
            plural = "" if function.arity == 1 else "s"
            raise ExpressionError(
                f"{name}() takes {function.arity} argument{plural}, got {len(arguments)}",
                name_token.column,
            )
        evaluators = tuple(argument.evaluate for argument in arguments)
        apply = function.apply
        return self.node(
            lambda variables: apply(*(argument(variables) for argument in evaluators)),
            arguments,
            name_token.column,
        )

    def sequence(self, opener: _Token) -> list[_Node]:
        """Comma-separated expressions up to the closer of `opener`; a trailing comma is fine."""
        closer = _CLOSERS[opener.text]
        items: list[_Node] = []
        while not self.at(closer):
            items.append(self.expression(0))
            if self.at(","):
                self.advance()
            elif not self.at(closer):
                break
        self.close(opener, in_sequence=True)
        return items

    def at(self, op: str) -> bool:
        return self.peek.kind == "op" and self.peek.text == op

    def close(self, opener: _Token, *, in_sequence: bool = False) -> None:
        closer = _CLOSERS[opener.text]
        if self.peek.kind == "end":
            raise ExpressionError(f"'{opener.text}' is never closed", opener.column)
        if not self.at(closer):
            expected = f"',' or '{closer}'" if in_sequence else f"'{closer}'"
            raise self.unexpected(self.peek, expected)
        self.advance()


def _constant(value: object) -> _Node:
    return _Node(lambda variables: value, 1)


def parse_expression(source: str) -> Expression:
    """Parse a condition such as `score >= 9 and event.amount > 10`; raises ExpressionError."""
    if len(source) > MAX_SOURCE_LENGTH:
        raise ExpressionError(
            f"expression is too long ({len(source)} characters; the limit is {MAX_SOURCE_LENGTH})",
            MAX_SOURCE_LENGTH,
        )
    if not source.strip():
        raise ExpressionError("empty expression", 0)
    parser = _Parser(source)
    root = parser.parse()
    return Expression(
        source, frozenset(parser.names), root.evaluate, compared=frozenset(parser.compared)
    )
