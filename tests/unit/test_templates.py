"""Message templates: rendering, defaults, dotted names, escapes, numbers and errors."""

from __future__ import annotations

import pytest

from bot.engine.templates import Placeholder, Template, TemplateError, format_value, parse_template

VARIABLES: dict[str, object] = {
    "first_name": "Ada",
    "brand": "Parley",
    "score": 9,
    "zero": 0,
    "empty": "",
    "nothing": None,
    "vip": True,
    "opted_in": False,
    "tags": ["shoes", "socks"],
    "no_tags": [],
    "braces": "{first_name}",
    "event": {"amount": 25.5, "total": 10.0, "order": {"id": "A-17"}},
}

RENDER_CASES: list[tuple[str, str, str]] = [
    # label, source, rendered
    ("plain text", "Reply STOP to opt out.", "Reply STOP to opt out."),
    ("empty template", "", ""),
    ("one name", "Hi {first_name}!", "Hi Ada!"),
    (
        "the usual welcome",
        "Hi {first_name|there}, thanks from {brand}! Your score: {score}",
        "Hi Ada, thanks from Parley! Your score: 9",
    ),
    ("placeholder only", "{brand}", "Parley"),
    ("adjacent placeholders", "{first_name}{brand}", "AdaParley"),
    ("default unused when present", "Hi {first_name|there}", "Hi Ada"),
    ("default for missing", "Hi {last_name|there}", "Hi there"),
    ("default for None", "Hi {nothing|there}", "Hi there"),
    ("default for empty string", "Hi {empty|there}", "Hi there"),
    ("default for empty list", "Sizes: {no_tags|none yet}", "Sizes: none yet"),
    ("zero is a value, not missing", "{zero|none}", "0"),
    ("false is a value, not missing", "{opted_in|unknown}", "no"),
    ("default with spaces and punctuation", "{nothing|dear friend, hi!}", "dear friend, hi!"),
    ("default keeps further bars", "{nothing|a|b}", "a|b"),
    ("empty default", "[{nothing|}]", "[]"),
    ("missing without default", "[{nothing}] [{missing}]", "[] []"),
    ("spaces around name and default", "Hi { nothing | there }!", "Hi there!"),
    ("dotted", "Total: {event.amount}", "Total: 25.5"),
    ("dotted twice", "Order {event.order.id}", "Order A-17"),
    ("missing dotted key", "Order {event.refund|n/a}", "Order n/a"),
    ("dotted through a non-mapping", "{first_name.length|?}", "?"),
    ("escaped braces", "Use {{code}} in {brand}", "Use {code} in Parley"),
    ("escaped around a placeholder", "{{{first_name}}}", "{Ada}"),
    ("closing escape after a placeholder", "{first_name}}}", "Ada}"),
    ("lone escaped closer", "a }} b", "a } b"),
    ("values are not templates", "{braces}", "{first_name}"),
    ("int", "{score} points", "9 points"),
    ("whole float drops .0", "{event.total}", "10"),
    ("bool true", "VIP: {vip}", "VIP: yes"),
    ("list", "You bought {tags}", "You bought shoes, socks"),
    ("emoji text is kept", "🎉 {first_name} 🎉", "🎉 Ada 🎉"),
]


@pytest.mark.parametrize(
    ("source", "expected"),
    [case[1:] for case in RENDER_CASES],
    ids=[case[0] for case in RENDER_CASES],
)
def test_render(source: str, expected: str) -> None:
    assert parse_template(source).render(VARIABLES) == expected


FORMAT_CASES: list[tuple[str, object, str]] = [
    # label, value, text
    ("none", None, ""),
    ("string", "hi", "hi"),
    ("int", 42, "42"),
    ("negative int", -3, "-3"),
    ("whole float", 10.0, "10"),
    ("large whole float", 1e20, "100000000000000000000"),
    ("one decimal", 12.5, "12.5"),
    ("two decimals", 0.25, "0.25"),
    ("rounded to two", 3.14159, "3.14"),
    ("half rounds up", 12.345, "12.35"),
    ("trailing zero trimmed", 2.10, "2.1"),
    ("rounds to whole", 2.999, "3"),
    ("negative decimal", -1.5, "-1.5"),
    ("tiny is zero", 0.001, "0"),
    ("tiny negative is zero, not -0", -0.001, "0"),
    ("nan is nothing", float("nan"), ""),
    ("infinity is nothing", float("inf"), ""),
    ("true", True, "yes"),
    ("false", False, "no"),
    ("list", ["a", "b"], "a, b"),
    ("mixed list", [1, 2.5, True, None], "1, 2.5, yes, "),
    ("tuple", ("a",), "a"),
    ("empty list", [], ""),
    (
        "mapping, as event data may hold",
        {"size": "M", "qty": 2, "gift": True},
        "size: M, qty: 2, gift: yes",
    ),
]


@pytest.mark.parametrize(
    ("value", "expected"),
    [case[1:] for case in FORMAT_CASES],
    ids=[case[0] for case in FORMAT_CASES],
)
def test_format_value(value: object, expected: str) -> None:
    assert format_value(value) == expected


PARSE_CASES: list[tuple[str, str, tuple[Placeholder, ...], set[str]]] = [
    # label, source, placeholders, names
    ("no placeholders", "Hello", (), set()),
    ("escapes are not placeholders", "{{name}}", (), set()),
    (
        "names, defaults and columns",
        "Hi {first_name|there}, {event.amount}",
        (Placeholder("first_name", "there", 3), Placeholder("event.amount", None, 23)),
        {"first_name", "event"},
    ),
    (
        "names are top-level and unique",
        "{event.amount} {event.order.id} {event.amount}",
        (
            Placeholder("event.amount", None, 0),
            Placeholder("event.order.id", None, 15),
            Placeholder("event.amount", None, 32),
        ),
        {"event"},
    ),
    (
        "columns count escapes as written",
        "{{x}} {y|}",
        (Placeholder("y", "", 6),),
        {"y"},
    ),
]


@pytest.mark.parametrize(
    ("source", "placeholders", "names"),
    [case[1:] for case in PARSE_CASES],
    ids=[case[0] for case in PARSE_CASES],
)
def test_parse(source: str, placeholders: tuple[Placeholder, ...], names: set[str]) -> None:
    template = parse_template(source)
    assert template.source == source
    assert template.placeholders == placeholders
    assert template.names == frozenset(names)


UNCLOSED = "unclosed '{': end the placeholder with '}', or write '{{' for a literal brace"
STRAY = "stray '}': write '}}' for a literal brace"
EMPTY = "empty placeholder: put a name inside, like {first_name}"


def not_a_name(name: str) -> str:
    return (
        f"'{name}' is not a name: use letters, digits and _, with dots for nested values,"
        " like {event.amount}"
    )


ERROR_CASES: list[tuple[str, str, str, int]] = [
    # label, source, message, column
    ("unclosed at the end", "Hi {first_name", UNCLOSED, 3),
    ("unclosed before another placeholder", "Hi {first_name, see {link}", UNCLOSED, 3),
    ("brace inside a default", "{name|de{fault}", UNCLOSED, 0),
    ("lone opener", "50% off {", UNCLOSED, 8),
    ("stray closer", "Hi }", STRAY, 3),
    ("stray closer after a placeholder", "{name|default}}", STRAY, 14),
    ("odd closers after an escape", "a }}} b", STRAY, 4),
    ("empty", "Hi {}", EMPTY, 3),
    ("blank", "Hi {  }", EMPTY, 3),
    ("only a default", "{|friend}", EMPTY, 0),
    ("space inside a name", "{first name}", not_a_name("first name"), 1),
    ("column skips leading spaces", "Hi {  first name}", not_a_name("first name"), 6),
    ("double dot", "{event..amount}", not_a_name("event..amount"), 1),
    ("trailing dot", "{event.|x}", not_a_name("event."), 1),
    ("leading digit", "{1st}", not_a_name("1st"), 1),
    ("dash", "Hi {first-name}", not_a_name("first-name"), 4),
    ("format spec", "{amount:.2f}", not_a_name("amount:.2f"), 1),
]


@pytest.mark.parametrize(
    ("source", "message", "column"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_errors(source: str, message: str, column: int) -> None:
    with pytest.raises(TemplateError) as caught:
        parse_template(source)
    assert (caught.value.message, caught.value.column) == (message, column)
    assert isinstance(caught.value, ValueError)


def test_template_is_a_plain_hashable_value() -> None:
    first, second = parse_template("Hi {first_name}"), parse_template("Hi {first_name}")
    assert first == second
    assert hash(first) == hash(second)
    assert isinstance(first, Template)
    assert {first: "cached"}[second] == "cached"
