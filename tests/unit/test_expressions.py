"""The branch-condition language: values, names, errors with columns, safety and null semantics."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot.engine import expressions
from bot.engine.expressions import (
    MAX_DEPTH,
    MAX_SOURCE_LENGTH,
    Expression,
    ExpressionError,
    parse_expression,
)

VARIABLES: dict[str, object] = {
    "score": 9,
    "name": "Ada",
    "answer": "Yes please",
    "count_text": "12",
    "empty": "",
    "zero": 0,
    "nothing": None,
    "tags": ["vip", "new"],
    "event": {"amount": 25.5, "code": "SAVE10", "in": 3, "items": ["shoes", "socks"]},
    "attributes": {"vip": True, "tier": "gold", "address": {"city": "Lyon"}},
}

VALUE_CASES: list[tuple[str, str, object]] = [
    # label, source, value (compared with its type, so True is not 1)
    ("int literal", "42", 42),
    ("float literal", "2.5", 2.5),
    ("leading-dot float", ".5", 0.5),
    ("exponent is a float", "1e3", 1000.0),
    ("double-quoted string", '"hi there"', "hi there"),
    ("single-quoted string", "'hi'", "hi"),
    ("escaped quote", r"'it\'s'", "it's"),
    ("escaped backslash and newline", r'"a\\b\n"', "a\\b\n"),
    ("true", "true", True),
    ("false", "false", False),
    ("null", "null", None),
    ("Python spellings", "[True, False, None]", [True, False, None]),
    ("variable", "score", 9),
    ("dotted", "event.amount", 25.5),
    ("dotted twice", "attributes.address.city", "Lyon"),
    ("spaces around dots", "event . code", "SAVE10"),
    ("keyword as a key after a dot", "event.in", 3),
    ("missing variable is null", "missing", None),
    ("missing dotted key is null", "event.missing", None),
    ("dotted through a missing mapping is null", "missing.deeper.still", None),
    ("dotted through a non-mapping is null", "name.length", None),
    ("equal", "score == 9", True),
    ("not equal", "score != 9", False),
    ("less", "score < 10", True),
    ("less or equal", "score <= 9", True),
    ("greater", "score > 9", False),
    ("greater or equal", "score >= 9", True),
    ("int equals float", "10 == 10.0", True),
    ("strings compare", '"abc" < "abd"', True),
    ("chained comparison holds", "1 < score <= 9", True),
    ("chained comparison fails", "1 < score < 9", False),
    ("chain of equalities", "score == 9 == 9.0", True),
    ("string is not a number", 'score == "9"', False),
    ("bool is not a number", "true == 1", False),
    ("number is not a bool", "zero == false", False),
    ("incompatible not equal", 'score != "9"', True),
    ("null equals null", "nothing == null", True),
    ("missing equals null", "missing == null", True),
    ("missing is not equal to zero", "missing == 0", False),
    ("null is not less", "missing < 1", False),
    ("null is not greater", "missing > 1", False),
    ("null is not greater or equal to null", "null >= null", False),
    ("string vs number ordering is false", '"a" < 1', False),
    ("numeric string stays a string", "count_text >= 10", False),
    ("number() converts it", "number(count_text) >= 10", True),
    ("bool ordering is false", "true > 0", False),
    ("in list", '"vip" in tags', True),
    ("in list literal", 'attributes.tier in ["gold", "silver"]', True),
    ("in list uses the same equality", "1 in [true]", False),
    ("in string", '"please" in answer', True),
    ("in string is case-sensitive", '"yes" in answer', False),
    ("mapping keys", '"tier" in attributes', True),
    ("number in string is false", '1 in "123"', False),
    ("in null is false", '"x" in missing', False),
    ("not in", '"old" not in tags', True),
    ("not in null is true", '"x" not in missing', True),
    ("and is true", "score > 5 and name == 'Ada'", True),
    ("and gives the falsy operand", "empty and score", ""),
    ("and gives the last operand", "score and name", "Ada"),
    ("or gives the first truthy", 'name or "friend"', "Ada"),
    ("or falls back", 'empty or "friend"', "friend"),
    ("or falls back on missing", 'first_name or nothing or "friend"', "friend"),
    ("or short-circuits", "true or 1 / 0", True),
    ("and binds tighter than or", "true or false and false", True),
    ("parentheses regroup", "(true or false) and false", False),
    ("not", "not empty", True),
    ("not of missing", "not missing", True),
    ("not binds looser than comparison", "not score > 5", False),
    ("not not", "not not score", True),
    ("long or chain stays shallow", " or ".join(["0"] * 60 + ["1"]), 1),
    ("precedence", "1 + 2 * 3", 7),
    ("parentheses", "(1 + 2) * 3", 9),
    ("left associative", "10 - 4 - 3", 3),
    ("true division", "10 / 4", 2.5),
    ("modulo", "7 % 3", 1),
    ("unary minus", "-score", -9),
    ("unary minus binds tight", "-2 * 3", -6),
    ("double minus", "- -3", 3),
    ("float arithmetic", "event.amount * 2", 51.0),
    ("string concatenation", 'name + "!"', "Ada!"),
    ("division by zero is null", "score / 0", None),
    ("modulo by zero is null", "score % 0", None),
    ("arithmetic with null is null", "missing + 1", None),
    ("numeric string arithmetic is null", "count_text + 1", None),
    ("string times int is null", '"ab" * 3', None),
    ("string formatting is not arithmetic", '"%s" % 1', None),
    ("bool arithmetic is null", "true + 1", None),
    ("minus a string is null", "-name", None),
    ("string minus string is null", '"a" - "b"', None),
    ("huge int to float is null", "1" + "0" * 400 + " / 3", None),
    ("empty list", "[]", []),
    ("list literal", "[1, 'two', score]", [1, "two", 9]),
    ("trailing comma", "[1, 2,]", [1, 2]),
    ("nested list", "[[1], []]", [[1], []]),
    ("lower", "lower(answer)", "yes please"),
    ("upper", "upper(name)", "ADA"),
    ("lower of a number is null", "lower(5)", None),
    ("len of a string", "len(name)", 3),
    ("len of a list", "len(tags)", 2),
    ("len of a mapping", "len(event)", 4),
    ("len of null is null", "len(missing)", None),
    ("number of an int string", "number('12')", 12),
    ("number of a padded decimal", "number(' 3.50 ')", 3.5),
    ("number of a signed int", "number('-4')", -4),
    ("number of a number", "number(7)", 7),
    ("number of words is null", "number('twelve')", None),
    ("number rejects underscores", "number('1_000')", None),
    ("number rejects nan", "number('nan')", None),
    ("number rejects infinity", "number('1e999')", None),
    ("number of a bool is null", "number(true)", None),
    ("number of null is null", "number(missing)", None),
    ("contains ignores case", 'contains(answer, "YES")', True),
    ("contains in a list ignores case", 'contains(tags, "VIP")', True),
    ("contains misses", 'contains(answer, "no")', False),
    ("contains in null is false", 'contains(missing, "x")', False),
    ("contains a number in a list", "contains([1, 2], 2)", True),
    ("functions compose", 'lower(upper(name)) in ["ada"]', True),
    ("newlines are whitespace", "score\n  >= 9\n  and name", "Ada"),
]


@pytest.mark.parametrize(
    ("source", "expected"),
    [case[1:] for case in VALUE_CASES],
    ids=[case[0] for case in VALUE_CASES],
)
def test_evaluate(source: str, expected: object) -> None:
    value = parse_expression(source).evaluate(VARIABLES)
    assert (value, type(value)) == (expected, type(expected))


@pytest.mark.parametrize(
    "source", [case[1] for case in VALUE_CASES], ids=[case[0] for case in VALUE_CASES]
)
def test_evaluate_never_raises_whatever_the_variables(source: str) -> None:
    expression = parse_expression(source)
    for variables in HOSTILE_VARIABLES:
        expression.evaluate(variables)
        assert isinstance(expression.test(variables), bool)


class Unhelpful:
    """A value that fails every way it can be used, and has attributes to tempt getattr."""

    amount = 5

    def __bool__(self) -> bool:
        raise RuntimeError("no truthiness")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no equality")

    __hash__ = object.__hash__


HOSTILE_VARIABLES: list[dict[str, object]] = [
    {},
    {key: None for key in VARIABLES},
    {key: Unhelpful() for key in VARIABLES},
    {key: [Unhelpful()] for key in VARIABLES},
    {key: {"amount": Unhelpful()} for key in VARIABLES},
    {key: float("nan") for key in VARIABLES},
]

TEST_CASES: list[tuple[str, str, dict[str, object], bool]] = [
    # label, source, variables, test()
    ("true condition", "score >= 9", {"score": 9}, True),
    ("false condition", "score >= 9", {"score": 3}, False),
    ("missing variable", "score >= 9", {}, False),
    ("truthy value", "name", {"name": "Ada"}, True),
    ("empty string is falsy", "name", {"name": ""}, False),
    ("empty list is falsy", "tags", {"tags": []}, False),
    ("zero is falsy", "zero", {"zero": 0}, False),
    ("unusable value is false", "thing", {"thing": Unhelpful()}, False),
    ("unusable in a comparison", "thing == 1", {"thing": Unhelpful()}, False),
    ("unusable in a list", "1 in things", {"things": [Unhelpful()]}, False),
    ("attributes of objects are not read", "thing.amount == 5", {"thing": Unhelpful()}, False),
    ("missing key equals null", "event.amount == null", {"event": {}}, True),
]


@pytest.mark.parametrize(
    ("source", "variables", "expected"),
    [case[1:] for case in TEST_CASES],
    ids=[case[0] for case in TEST_CASES],
)
def test_test(source: str, variables: dict[str, object], expected: bool) -> None:
    assert parse_expression(source).test(variables) is expected


NAMES_CASES: list[tuple[str, str, set[str]]] = [
    ("top-level names of dotted paths", "score >= 9 and event.amount > 10", {"score", "event"}),
    ("function names are not variables", 'lower(answer) in ["yes"]', {"answer"}),
    ("constants are not variables", "true or null or None", set()),
    ("keywords after dots are keys", "event.in or event.not", {"event"}),
    ("each name once", "a + a * b.c - b.d", {"a", "b"}),
    ("names inside lists and calls", "contains([x, y], z)", {"x", "y", "z"}),
]


@pytest.mark.parametrize(
    ("source", "names"),
    [case[1:] for case in NAMES_CASES],
    ids=[case[0] for case in NAMES_CASES],
)
def test_names(source: str, names: set[str]) -> None:
    assert parse_expression(source).names == frozenset(names)


FUNCTION_LIST = "contains, len, lower, number, upper"
COMPREHENSION = "comprehensions are not supported; test membership with 'in' and a list"
CONDITIONAL = "conditional expressions (a if b else c) are not supported; use 'and' / 'or'"
INDEXING = "'[' indexing is not supported; use dots: event.amount"
ATTRIBUTE = "'.' only works on variable names, like event.amount"
TOO_DEEP = f"expression is nested too deeply (more than {MAX_DEPTH} levels); simplify it"

ERROR_CASES: list[tuple[str, str, str, int]] = [
    # label, source, message, column
    ("empty", "", "empty expression", 0),
    ("blank", "   ", "empty expression", 0),
    (
        "unknown function",
        "open('x')",
        f"unknown function 'open'; the functions are {FUNCTION_LIST}",
        0,
    ),
    (
        "__import__",
        "__import__('os')",
        f"unknown function '__import__'; the functions are {FUNCTION_LIST}",
        0,
    ),
    (
        "method-style call",
        "x and os.system('ls')",
        f"unknown function 'os.system'; the functions are {FUNCTION_LIST}",
        6,
    ),
    ("eval", "eval('1')", f"unknown function 'eval'; the functions are {FUNCTION_LIST}", 0),
    ("dunder attribute on a tuple", "().__class__", "expected an expression, found ')'", 1),
    ("dunder key", "x.__class__", "names starting with '__' are not allowed", 2),
    ("dunder name", "__builtins__", "names starting with '__' are not allowed", 0),
    ("attribute of a string", '"x".upper()', ATTRIBUTE, 3),
    ("attribute of a call", "lower(name).x", ATTRIBUTE, 11),
    ("attribute of parentheses", "(event).amount", ATTRIBUTE, 7),
    ("calling a call", "lower(x)(1)", f"only these functions can be called: {FUNCTION_LIST}", 8),
    ("indexing", "a[0]", INDEXING, 1),
    ("indexing with a string", 'event["amount"]', INDEXING, 5),
    ("slicing a list literal", "[1, 2][0:1]", INDEXING, 6),
    ("list comprehension", "[x for x in y]", COMPREHENSION, 3),
    ("generator in a call", "len(x for x in y)", COMPREHENSION, 6),
    ("lambda", "lambda: 1", "lambdas are not supported", 0),
    ("f-string", 'f"{x}"', 'string prefixes like f"..." are not supported; use plain quotes', 0),
    ("bytes", "b'x'", 'string prefixes like b"..." are not supported; use plain quotes', 0),
    ("walrus", "(x := 1)", "':=' (assignment) is not supported", 3),
    ("conditional expression", "a if b else c", CONDITIONAL, 2),
    ("is", "a is None", "'is' is not supported; use '==' or '!='", 2),
    ("import", "import os", "'import' is not supported", 0),
    ("assignment", "a = 1", "'=' assigns; use '==' to compare", 2),
    ("javascript and", "a && b", "'&&' is not supported; use 'and'", 2),
    ("javascript or", "a || b", "'||' is not supported; use 'or'", 2),
    ("javascript not", "!a", "'!' is not supported; use 'not'", 0),
    ("power", "2 ** 8", "'**' (power) is not supported", 2),
    ("floor division", "7 // 2", "'//' is not supported; use '/'", 2),
    ("dict literal", '{"a": 1}', "'{' is not supported: there are no dicts or sets", 0),
    ("keyword argument", "len(x=1)", "'=' assigns; use '==' to compare", 5),
    ("unknown character", "a ? b : c", "unexpected character '?'", 2),
    ("dollar", "$amount > 5", "unexpected character '$'", 0),
    ("dangling operator", "1 +", "unexpected end of expression; expected an expression", 3),
    ("dangling not", "not", "unexpected end of expression; expected an expression", 3),
    ("leading and", "and a", "expected an expression, found 'and'", 0),
    ("two names", "a b", "expected an operator or the end of the expression, found name 'b'", 2),
    ("two numbers", "1 2", "expected an operator or the end of the expression, found number 2", 2),
    (
        "not without in",
        "a not b",
        "expected an operator or the end of the expression, found 'not'",
        2,
    ),
    ("unclosed parenthesis", "(1 + 2", "'(' is never closed", 0),
    ("unclosed list", "x in [1, 2", "'[' is never closed", 5),
    ("unclosed call", "len(x", "'(' is never closed", 3),
    ("list without commas", "[1 2]", "expected ',' or ']', found number 2", 3),
    ("arguments without commas", "contains(a b)", "expected ',' or ')', found name 'b'", 11),
    ("parentheses with two things", "(1 2)", "expected ')', found number 2", 3),
    ("empty list item", "[1, , 2]", "expected an expression, found ','", 4),
    ("too few arguments", "contains(x)", "contains() takes 2 arguments, got 1", 0),
    ("too many arguments", "x or len(x, y)", "len() takes 1 argument, got 2", 5),
    ("dot without name", "event.", "unexpected end of expression; expected a name after '.'", 6),
    ("dot then number", "event.1x", "invalid number '.1x'", 5),
    ("unterminated string", 'name == "Ada', "unterminated string: it needs a closing quote", 8),
    ("unterminated by escape", r"'it\'", "unterminated string: it needs a closing quote", 0),
    (
        "unknown escape",
        r'"a\q"',
        r"unknown escape '\q' in a string; write \\ for a backslash",
        2,
    ),
    ("number glued to a name", "3abc", "invalid number '3abc'", 0),
    ("hex", "0x1F", "invalid number '0x1F'", 0),
    (
        "too long",
        "x" * (MAX_SOURCE_LENGTH + 1),
        f"expression is too long ({MAX_SOURCE_LENGTH + 1} characters; the limit is 500)",
        MAX_SOURCE_LENGTH,
    ),
    ("deep parentheses", "(" * 60 + "1" + ")" * 60, TOO_DEEP, 50),
    ("deep unary minus", "-" * 60 + "1", TOO_DEEP, 50),
    ("deep not", "not " * 60 + "x", TOO_DEEP, 200),
    ("deep lists", "[" * 60 + "]" * 60, TOO_DEEP, 50),
    ("long arithmetic chain", "1" + "+1" * 60, TOO_DEEP, 99),
]


@pytest.mark.parametrize(
    ("source", "message", "column"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_errors(source: str, message: str, column: int) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_expression(source)
    assert (caught.value.message, caught.value.column) == (message, column)
    assert str(caught.value) == f"{message} (column {column})"


def test_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"unknown function 'open'"):
        parse_expression("open('x')")


def test_limits_allow_realistic_conditions() -> None:
    alternatives = " or ".join(f'answer == "option {index}"' for index in range(20))
    assert len(alternatives) <= MAX_SOURCE_LENGTH
    assert parse_expression(alternatives).test({"answer": "option 19"})
    assert parse_expression("(" * 40 + "1" + ")" * 40).evaluate({}) == 1


def test_expression_is_a_plain_hashable_value() -> None:
    first, second = parse_expression("score >= 9"), parse_expression("score >= 9")
    assert first == second
    assert hash(first) == hash(second)
    assert first == Expression("score >= 9", frozenset({"score"}), first.evaluate)
    assert "score >= 9" in repr(first)


def test_list_values_are_fresh_each_time() -> None:
    expression = parse_expression("[1, 2]")
    value = expression.evaluate({})
    assert isinstance(value, list)
    value.append(3)
    assert expression.evaluate({}) == [1, 2]


def test_module_never_runs_python_code_or_reads_attributes() -> None:
    tree = ast.parse(Path(expressions.__file__).read_text())
    nodes = list(ast.walk(tree))
    called = {
        node.func.id
        for node in nodes
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    imported = {
        alias.name for node in nodes if isinstance(node, ast.Import) for alias in node.names
    }
    assert not called & {"eval", "exec", "compile", "getattr", "__import__", "vars"}
    assert not imported & {"ast", "builtins", "importlib"}
