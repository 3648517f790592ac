"""The flow checker: every check and lint, one small flow text each, as `file:line: message`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from textwrap import dedent

import pytest

from bot.actions.local import LocalActionRunner
from bot.conversations.flow_registry import check_files, flow_files
from bot.domain.keywords import default_vocabulary
from bot.engine.checker import check_flow, check_flow_set
from bot.engine.model import RESTART_ALWAYS, RESTART_NEVER, Restart
from bot.engine.parser import ParsedFile, parse_flow
from tests.support.paths import ROOT

SHIPPED_FLOWS = ROOT / "flows"
ACTIONS = frozenset({"action_issue_coupon"})
ID_HINT = "people wait on it, and the id keeps them in place when you edit the flow"
RESERVED = "keyword that always means the same thing to carriers"
KNOWN_NAMES = "known: attributes, brand, event, first_name, phone, support"
STEP_TYPES = (
    "known: action, ask, branch, end, goto, handoff, http, send, set, split, start_flow, wait"
)
DURATION_FORMS = "write it like 30s, 15m, 2h, 1d, 1w, 1d 12h or 90 minutes"
LONG_TEXT = "Hi {first_name}! " + "Our spring sale is on now with great deals in store. " * 9
PLACEHOLDER_TEXT = (
    "Hi {first_name}, your code {coupon_code} is ready at {brand}. Questions? Write to {support}"
    " or call us back on {phone} any day of the week. Thank you so much!"
)
EMOJI_TEXT = (
    "Hi {first_name}! Our big sale is on this weekend with up to fifty percent off everything 🎉"
)


def problems(text: str, *, action_names: frozenset[str] | None = None) -> list[str]:
    """What `bot flows check` would print for one file: parse problems, else check_flow's."""
    parsed = parse_flow(dedent(text).lstrip("\n"), "t.yaml")
    found = list(parsed.problems)
    if parsed.flow is not None:
        found += check_flow(parsed.flow, brand="Parley", action_names=action_names)
    return [str(problem) for problem in found]


def case(label: str, text: str, *expected: str, xfail: str | None = None) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    return pytest.param(text, list(expected), id=label, marks=marks)


PARSE_CASES = [
    case(
        "bad YAML: indentation, with its line",
        """
        flow: t
        steps:
          - send: hi
           - send: there
        """,
        "t.yaml:4:4: bad YAML: expected <block end>, but found '<block sequence start>'; check the"
        " indentation: keys of one mapping and items of one list start in the same column,"
        " indented with spaces",
    ),
    case(
        "bad YAML: an unclosed quote",
        """
        flow: t
        steps:
          - send: "hi
        """,
        "t.yaml:4:1: bad YAML: found unexpected end of stream; a quote is opened and never closed",
    ),
    case(
        "bad YAML: a key given twice",
        """
        flow: t
        flow: u
        steps:
          - send: hi
        """,
        "t.yaml:2: duplicate key 'flow'",
    ),
    case(
        "a value YAML reads as a date that is no date",
        """
        flow: t
        description: 2024-13-45
        steps:
          - send: hi
        """,
        "t.yaml:2: cannot read '2024-13-45': month must be in 1..12 (quote it to keep it as text)",
    ),
    case(
        "nesting deeper than the parser's stack",
        f"""
        flow: t
        steps:
          - send: {"[" * 5000}{"]" * 5000}
        """,
        "t.yaml:1: bad YAML: nested too deeply",
    ),
    case(
        "aliases that stand for billions of values (billion laughs)",
        """
        flow: t
        a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]
        b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
        c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
        d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
        e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
        f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
        description: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
        steps:
          - send: hi
        """,
        "t.yaml:1: the file stands for more than 100000 values (YAML aliases?)",
    ),
    case(
        "not a mapping",
        """
        - send: hi
        """,
        "t.yaml:1: a flow file is a mapping with steps: …",
    ),
    case(
        "no steps",
        """
        flow: t
        steps: []
        """,
        "t.yaml:2: a flow needs a list of steps",
    ),
    case(
        "bad flow name",
        """
        flow: Spring-Sale
        steps:
          - send: hi
        """,
        "t.yaml:1: flow name 'Spring-Sale' must be lower-case letters, digits and _ (e.g. nps)",
    ),
    case(
        "unknown top-level key",
        """
        flow: t
        colour: red
        steps:
          - send: hi
        """,
        "t.yaml:2: unknown key 'colour' "
        "(known: attributes, description, flow, settings, steps, tests, triggers, "
        "unexpected_reply)",
    ),
    case(
        "unexpected_reply without text",
        """
        flow: t
        unexpected_reply: [thanks]
        steps:
          - send: hi
        """,
        "t.yaml:2: unexpected_reply needs some text, e.g. 'Thanks, we'll be in touch'",
    ),
    case(
        "unexpected_reply with a broken placeholder",
        """
        flow: t
        unexpected_reply: "Thanks {first_name! We'll be in touch."
        steps:
          - send: hi
        """,
        "t.yaml:2: unexpected_reply: unclosed '{': end the placeholder with '}', or write '{{' "
        "for a literal brace",
    ),
    case(
        "unknown triggers and settings keys",
        """
        flow: t
        triggers:
          keyword: [SALE]
        settings:
          promo: true
        steps:
          - send: hi
        """,
        "t.yaml:3: unknown triggers key 'keyword' (known: events, intents, keywords, restart)",
        "t.yaml:5: unknown settings key 'promo' "
        "(known: cancel_on, expires_after, interruptible, max_segments, promotional)",
    ),
    case(
        "unknown step type",
        """
        flow: t
        steps:
          - shout: hi
        """,
        f"t.yaml:3: unknown step type 'shout' ({STEP_TYPES})",
    ),
    case(
        "a step without a type",
        """
        flow: t
        steps:
          - id: lonely
        """,
        f"t.yaml:3: the step has no type ({STEP_TYPES})",
    ),
    case(
        "a step with two types",
        """
        flow: t
        steps:
          - send: hi
            end: true
        """,
        "t.yaml:3: a step has one type, this one has 2: send, end",
    ),
    case(
        "unknown key in a step",
        """
        flow: t
        steps:
          - send: hi
            delay: 1h
        """,
        "t.yaml:4: unknown key 'delay' in a send step (known: id, media, next, send)",
    ),
    case(
        "a template that does not parse",
        """
        flow: t
        steps:
          - send: "Hi {first_name"
        """,
        "t.yaml:3: send: unclosed '{': end the placeholder with '}', or write '{{' for a literal "
        "brace",
    ),
    case(
        "a branch condition that does not parse",
        """
        flow: t
        steps:
          - branch:
              - if: score >=
                goto: end
        """,
        "t.yaml:4: condition 'score >=' does not parse: unexpected end of expression; "
        "expected an expression",
    ),
    case(
        "else before the last arm",
        """
        flow: t
        steps:
          - branch:
              - else: end
              - if: attributes.vip
                goto: end
        """,
        "t.yaml:5: else must be the last arm of a branch",
    ),
    case(
        "missing id on a wait",
        """
        flow: t
        steps:
          - wait: 1d
        """,
        f"t.yaml:3: a wait step needs an id: {ID_HINT}",
    ),
    case(
        "missing id on a handoff",
        """
        flow: t
        steps:
          - handoff: true
        """,
        f"t.yaml:3: a handoff step needs an id: {ID_HINT}",
    ),
    case(
        "missing id on an ask",
        """
        flow: t
        steps:
          - ask: "Your size?"
        """,
        f"t.yaml:3: an ask step needs an id: {ID_HINT}",
    ),
    case(
        "duration without a unit",
        """
        flow: t
        steps:
          - id: pause
            wait: 30
        """,
        "t.yaml:4: wait: '30' has no unit; add one, e.g. 30m or 30h (units: s, m, h, d, w)",
    ),
    case(
        "duration with an unknown unit",
        """
        flow: t
        steps:
          - id: pause
            wait: 1 fortnight
        """,
        "t.yaml:4: wait: unknown unit 'fortnight' in '1 fortnight'; use s, m, h, d or w "
        f"({DURATION_FORMS})",
    ),
    case(
        "zero timeout",
        """
        flow: t
        steps:
          - id: q
            ask: "Q?"
            timeout: 0m
        """,
        "t.yaml:5: timeout: '0m' is zero; a duration must be longer than zero",
    ),
    case(
        "bad expires_after",
        """
        flow: t
        settings:
          expires_after: soon
        steps:
          - send: hi
        """,
        f"t.yaml:3: expires_after: cannot read 'soon' as a duration; {DURATION_FORMS}",
    ),
    case(
        "unknown expect",
        """
        flow: t
        steps:
          - id: q
            ask: "Your phone?"
            expect: phone
        """,
        "t.yaml:5: expect: unknown answer type 'phone' "
        "(use choice, yes_no, number, rating, text, email, date)",
    ),
    case(
        "choice without options",
        """
        flow: t
        steps:
          - id: q
            ask: "Which one?"
            expect: choice
        """,
        "t.yaml:3: a choice question needs at least two options",
    ),
    case(
        "choice with one option",
        """
        flow: t
        steps:
          - id: q
            ask: "Which one?"
            expect: choice
            options: [Only]
        """,
        "t.yaml:6: a choice question needs at least two options",
    ),
    case(
        "options on a question that is not a choice",
        """
        flow: t
        steps:
          - id: q
            ask: "Q?"
            expect: number
            options: [a, b]
        """,
        "t.yaml:6: options only go with expect: choice",
    ),
    case(
        "min above max",
        """
        flow: t
        steps:
          - id: q
            ask: "Reply 1-10"
            expect: number
            min: 10
            max: 1
        """,
        "t.yaml:6: min (10) is above max (1)",
    ),
    case(
        "rating min above max",
        """
        flow: t
        steps:
          - id: q
            ask: "Stars?"
            expect: rating
            min: 4
            max: 2
        """,
        "t.yaml:6: min (4) is above max (2)",
    ),
]

CHECK_CASES = [
    case(
        "jump to a missing step: next, goto",
        """
        flow: t
        steps:
          - send: hi
            next: nowhere
          - goto: elsewhere
        """,
        # The line of `next:` itself; and no "can never be reached" for the goto below it,
        # which may well be reached once the jump is fixed.
        "t.yaml:4: jump to a step that does not exist: 'nowhere'",
        "t.yaml:5: jump to a step that does not exist: 'elsewhere'",
    ),
    case(
        "jump to a missing step: on_invalid, on_timeout, branch arms",
        """
        flow: t
        steps:
          - id: q
            ask: "Yes or no?"
            expect: yes_no
            on_invalid: gone
            timeout: 1h
            on_timeout: asleep
          - branch:
              - if: q
                goto: happy
              - else: sad
        """,
        "t.yaml:6: jump to a step that does not exist: 'gone'",
        "t.yaml:8: jump to a step that does not exist: 'asleep'",
        "t.yaml:10: jump to a step that does not exist: 'happy'",
        "t.yaml:12: jump to a step that does not exist: 'sad'",
    ),
    case(
        "unreachable steps: after an end, a start_flow, a goto and a branch with else",
        """
        flow: t
        steps:
          - id: route
            branch:
              - if: attributes.vip
                goto: vip
              - else: regular
          - id: after_branch
            send: never
          - id: vip
            start_flow: vip_club
          - id: after_start_flow
            send: never
          - id: regular
            goto: bye
          - id: after_goto
            send: never
          - id: bye
            end: Bye
          - id: after_end
            send: never
        """,
        "t.yaml:8: step 'after_branch' can never be reached",
        "t.yaml:12: step 'after_start_flow' can never be reached",
        "t.yaml:16: step 'after_goto' can never be reached",
        "t.yaml:20: step 'after_end' can never be reached",
    ),
    case(
        "an unreachable step without an id is named by its type, not a made-up id",
        """
        flow: t
        steps:
          - end: Bye
          - send: never
        """,
        "t.yaml:4: this send step can never be reached",
    ),
    case(
        "reachable through next, on_invalid, on_timeout and a hand-back",
        """
        flow: t
        steps:
          - id: q
            ask: "Yes or no?"
            expect: yes_no
            on_invalid: human
            timeout: 1h
            on_timeout: nudge
            next: done
          - id: human
            handoff: true
            next: done
          - id: nudge
            send: "Still there?"
            next: done
          - id: done
            end: true
        """,
    ),
    case(
        "unknown template variable in unexpected_reply",
        """
        flow: t
        unexpected_reply: "Thanks {nickname}, a person will get back to you."
        steps:
          - send: "Hi"
        """,
        f"t.yaml:2: unknown template variable {{nickname}} ({KNOWN_NAMES})",
    ),
    case(
        "unknown template variable",
        """
        flow: t
        steps:
          - send: "Hi {nickname|there}"
        """,
        f"t.yaml:3: unknown template variable {{nickname}} ({KNOWN_NAMES})",
    ),
    case(
        "names from attributes, answers, set and actions are known",
        """
        flow: t
        attributes: [city]
        steps:
          - id: size
            ask: "Size?"
            expect: choice
            options: [S, M]
          - set:
              attributes: {shirt: "{size}"}
          - id: coupon
            action: action_issue_coupon
            provides: [coupon_code]
          - end: "{first_name|Hi} in {city}: {shirt} with {coupon_code} from {brand} {event.id}"
        """,
    ),
    case(
        "unknown name in a condition",
        """
        flow: t
        steps:
          - branch:
              - if: vip == true
                goto: end
        """,
        f"t.yaml:4: unknown name 'vip' in condition ({KNOWN_NAMES})",
    ),
    case(
        "duplicate step id",
        """
        flow: t
        steps:
          - id: hello
            send: hi
          - id: hello
            send: ho
        """,
        "t.yaml:5: step id 'hello' is already used on line 3: give each step its own id",
    ),
    case(
        "errors come first by line, then warnings",
        """
        flow: t
        settings:
          promotional: true
        steps:
          - send: "{brand}: Sale!"
          - send: "Hi {nickname}"
          - goto: nowhere
        """,
        f"t.yaml:6: unknown template variable {{nickname}} ({KNOWN_NAMES})",
        "t.yaml:7: jump to a step that does not exist: 'nowhere'",
        "t.yaml:5: warning: promotional flow: no text says how to opt out "
        "(add e.g. 'Reply STOP to opt out')",
    ),
]


def reserved(keyword: str, kind: str, *, xfail: str | None = None) -> object:
    return case(
        f"reserved keyword {keyword}",
        f"""
        flow: t
        triggers:
          keywords: [SALE, {keyword}]
        steps:
          - send: hi
        """,
        f"t.yaml:3: '{keyword}' is reserved: it is {kind} {RESERVED}",
        xfail=xfail,
    )


KEYWORD_CASES = [
    reserved("STOP", "an opt-out"),
    reserved("START", "an opt-in"),
    reserved("HELP", "a help"),
    reserved("JOIN", "a join"),
    reserved("YES", "a confirm"),
    reserved("Info", "a help"),
    case(
        "an ordinary keyword is fine",
        """
        flow: t
        triggers:
          keywords: [SALE, Survey]
        steps:
          - send: hi
        """,
    ),
]

LINT_CASES = [
    case(
        "a text over max_segments with typical values",
        f"""
        flow: t
        steps:
          - send: "{LONG_TEXT.strip()}"
        """,
        "t.yaml:3: warning: this text is 4 segments with typical values (GSM-7, 490 units); "
        "the limit is 3",
    ),
    case(
        "max_segments counts placeholders at typical length",
        f"""
        flow: t
        attributes: [coupon_code]
        settings:
          max_segments: 1
        steps:
          - send: "{PLACEHOLDER_TEXT}"
        """,
        "t.yaml:6: warning: this text is 2 segments with typical values (GSM-7, 164 units); "
        "the limit is 1",
    ),
    case(
        "a smart quote turns a text into UCS-2",
        """
        flow: t
        steps:
          - send: "We’re open today! Come by."
        """,
        "t.yaml:3: warning: ’ (RIGHT SINGLE QUOTATION MARK) turns this text into UCS-2: "
        "70 characters a segment instead of 160",
    ),
    case(
        "an emoji that costs a segment",
        f"""
        flow: t
        steps:
          - send: "{EMOJI_TEXT}"
        """,
        "t.yaml:3: warning: 🎉 (PARTY POPPER) turns this text into UCS-2: 2 segments instead of 1",
    ),
    case(
        "a promotional flow without opt-out wording",
        """
        flow: t
        settings:
          promotional: true
        steps:
          - id: pause
            wait: 1h
          - send: "{brand}: Big sale this weekend!"
          - send: "Last day of the sale!"
        """,
        "t.yaml:7: warning: promotional flow: no text says how to opt out "
        "(add e.g. 'Reply STOP to opt out')",
    ),
    case(
        "a promotional flow that says how to opt out",
        """
        flow: t
        settings:
          promotional: true
        steps:
          - send: "Big sale this weekend at Parley!"
          - send: "Last day! Reply STOP to opt out."
        """,
    ),
    case(
        "opt-out wording is only needed in promotional flows",
        """
        flow: t
        steps:
          - send: "Your order has shipped."
        """,
    ),
    case(
        "a person's value inside or right before a URL is never a tracked link",
        """
        flow: t
        steps:
          - send: "Your page: https://shop.example/u/{first_name}"
          - send: "Hi {first_name}! Shop at https://shop.example/sale"
          - send: "{attributes.site}https://shop.example/sale and https://shop.example/c/{event.cart}"
        """,
        "t.yaml:3: warning: {first_name} runs into a URL: a URL with a person's value in it goes"
        " out as plain text, never as a tracked link (put a space between them)",
        "t.yaml:5: warning: {attributes.site} runs into a URL: a URL with a person's value in it"
        " goes out as plain text, never as a tracked link (put a space between them)",
    ),
    case(
        "'stop by' is not opt-out wording",
        """
        flow: t
        settings:
          promotional: true
        steps:
          - send: "{brand}: Stop by our store this weekend for 20% off!"
        """,
        "t.yaml:5: warning: promotional flow: no text says how to opt out "
        "(add e.g. 'Reply STOP to opt out')",
    ),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_CASES + CHECK_CASES + KEYWORD_CASES)
def test_errors(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


@pytest.mark.parametrize(("text", "expected"), LINT_CASES)
def test_lints(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


@pytest.mark.parametrize(
    ("action_names", "expected"),
    [
        pytest.param(None, [], id="not checked when the actions are not known"),
        pytest.param(ACTIONS, [], id="a known action"),
        pytest.param(
            frozenset({"action_lookup_order"}),
            ["t.yaml:3: unknown action 'action_issue_coupon' (known: action_lookup_order)"],
            id="an unknown action",
        ),
        pytest.param(
            frozenset(),
            ["t.yaml:3: unknown action 'action_issue_coupon' (known: none)"],
            id="no actions at all",
        ),
    ],
)
def test_unknown_action(action_names: frozenset[str] | None, expected: list[str]) -> None:
    text = """
    flow: t
    steps:
      - action: action_issue_coupon
    """
    assert problems(text, action_names=action_names) == expected


def parsed_files(files: dict[str, str]) -> list[ParsedFile]:
    parsed = [parse_flow(dedent(text).lstrip("\n"), name) for name, text in files.items()]
    assert all(item.flow is not None for item in parsed), [item.problems for item in parsed]
    return parsed


NPS = """
flow: nps
triggers:
  keywords: [SURVEY, NPS]
steps:
  - send: hi
"""


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            {
                "nps.yaml": NPS,
                "poll.yaml": """
                flow: poll
                triggers:
                  keywords: [POLL, survey]
                steps:
                  - send: hi
                """,
            },
            [
                "poll.yaml:3: trigger keyword 'survey' is also used by flow 'nps' (nps.yaml:3)",
                "nps.yaml:3: trigger keyword 'SURVEY' is also used by flow 'poll' (poll.yaml:3)",
            ],
            id="a trigger keyword used by two flows: both files hear of it",
        ),
        pytest.param(
            {
                "nps.yaml": NPS,
                "menu.yaml": """
                flow: menu
                steps:
                  - start_flow: nps
                  - start_flow: feedback
                """,
            },
            ["menu.yaml:4: start_flow: no flow named 'feedback'"],
            id="start_flow to an unknown flow",
        ),
        pytest.param(
            {"nps.yaml": NPS, "nps_copy.yaml": NPS.replace("[SURVEY, NPS]", "[SCORE]")},
            [
                "nps_copy.yaml:1: flow 'nps' is also defined in nps.yaml",
                "nps.yaml:1: flow 'nps' is also defined in nps_copy.yaml",
            ],
            id="two flows with one name: both files hear of it",
        ),
    ],
)
def test_flow_set(files: dict[str, str], expected: list[str]) -> None:
    assert [str(problem) for problem in check_flow_set(parsed_files(files))] == expected


def test_shipped_flows_check_clean() -> None:
    """No errors and no warnings in flows/, checked as `bot flows check` does."""
    actions = LocalActionRunner("actions", ROOT).names()
    assert "action_issue_coupon" in actions
    checked = check_files(
        flow_files(SHIPPED_FLOWS), brand="Parley", vocabulary=default_vocabulary(),
        action_names=actions,
    )  # fmt: skip
    assert {Path(item.file).name for item in checked} >= {
        "abandoned_cart.yaml",
        "feedback.yaml",
        "nps.yaml",
        "welcome.yaml",
    }
    assert all(item.flow is not None for item in checked)
    assert [str(problem) for item in checked for problem in item.problems] == []


LOOP_ADVICE = "; add a question or a wait, or end the loop"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            """
            flow: t
            steps:
              - id: hello
                send: "Hi!"
              - goto: hello
            """,
            [
                "t.yaml:3: these steps loop without waiting for anything:"
                f" hello → goto (line 5) → hello{LOOP_ADVICE}"
            ],
            id="a goto back: steps without an id are shown by type and line",
        ),
        pytest.param(
            """
            flow: t
            steps:
              - id: hello
                send: "Hi!"
              - id: pause
                wait: 1d
              - goto: hello
            """,
            [],
            id="a loop through a wait is a reminder series, not a bug",
        ),
        pytest.param(
            """
            flow: t
            steps:
              - id: a
                branch:
                  - if: attributes.vip
                    goto: b
                  - else: c
              - id: b
                send: "B"
                next: a
              - id: c
                send: "C"
                next: a
              - id: d
                send: "D"
                next: d
            """,
            [
                f"t.yaml:3: these steps loop without waiting for anything: a → b → a{LOOP_ADVICE}",
                f"t.yaml:14: these steps loop without waiting for anything: d → d{LOOP_ADVICE}",
            ],
            id="each loop once, however many ways round it",
        ),
    ],
)
def test_loops_without_a_wait(text: str, expected: list[str]) -> None:
    found = [line for line in problems(text) if "loop without waiting" in line]
    assert found == expected


def test_loops_are_found_in_big_flows_without_listing_every_path() -> None:
    # Twenty branches in a row make a million paths round the loop; 5 000 steps in a chain.
    branches = "".join(
        f"  - id: b{n}\n    branch:\n      - if: attributes.vip\n        goto: s{n}\n"
        f"  - id: s{n}\n    send: step {n}\n"
        for n in range(20)
    )
    looped = f"flow: t\nsteps:\n{branches}  - goto: b0\n"
    assert len([line for line in problems(looped) if "loop without waiting" in line]) == 1
    chain = "flow: t\nsteps:\n" + "".join(f"  - send: text {n}\n" for n in range(5_000))
    assert [line for line in problems(chain) if "loop without waiting" in line] == []


def test_a_number_too_long_for_python_is_a_problem_with_its_line() -> None:
    [problem] = problems(f"flow: t\nsteps:\n  - send: {'9' * 5000}\n")
    assert problem.startswith("t.yaml:3: cannot read '9999999999999999999999999999999999999…': ")
    assert problem.endswith("(quote it to keep it as text)")


RESTART_NOT_A_RULE = (
    "restart must be once (or never: once per person), always, or a duration such as 30d"
)


@pytest.mark.parametrize(
    ("written", "rule", "problem"),
    [
        ("never", RESTART_NEVER, None),
        ("always", RESTART_ALWAYS, None),
        ("Never", RESTART_NEVER, None),
        ("30d", Restart(timedelta(days=30)), None),
        ("1d 12h", Restart(timedelta(hours=36)), None),
        ("2 weeks", Restart(timedelta(weeks=2)), None),
        ("once", RESTART_NEVER, None),
        ("twice", None, f"{RESTART_NOT_A_RULE} (not again within 30 days); got 'twice'"),
        ("true", None, f"{RESTART_NOT_A_RULE} (not again within 30 days); got True"),
        ("[never]", None, f"{RESTART_NOT_A_RULE} (not again within 30 days); got ['never']"),
        ("30", None, "restart: '30' has no unit; add one, e.g. 30m or 30h (units: s, m, h, d, w)"),
        ("0d", None, "restart: '0d' is zero; a duration must be longer than zero"),
        ("400d", None, "restart: '400d' is longer than the maximum of 365 days"),
    ],
)
def test_restart_is_never_always_or_a_duration(
    written: str, rule: Restart | None, problem: str | None
) -> None:
    text = (
        f"flow: t\ntriggers:\n  events: [subscribed]\n  restart: {written}\nsteps:\n  - end: hi\n"
    )
    parsed = parse_flow(text, "t.yaml")
    expected = [f"t.yaml:4: {problem}"] if problem else []
    assert [str(found) for found in parsed.problems] == expected
    if rule is not None:
        assert parsed.flow is not None and parsed.flow.triggers.restart == rule


@pytest.mark.parametrize(
    ("triggers", "started_by", "rule"),
    [
        pytest.param("{events: [subscribed]}", "subscribed", RESTART_NEVER, id="welcome: once"),
        pytest.param("{events: [cart_abandoned]}", "cart_abandoned", RESTART_ALWAYS, id="event"),
        pytest.param("{keywords: [SURVEY]}", None, RESTART_ALWAYS, id="keyword: retake at will"),
        pytest.param("{intents: [take the survey]}", None, RESTART_ALWAYS, id="intent"),
        pytest.param(
            "{events: [subscribed], keywords: [WELCOME]}", None, RESTART_ALWAYS, id="asked for"
        ),
        pytest.param(
            "{events: [subscribed], restart: 90d}",
            "subscribed",
            Restart(timedelta(days=90)),
            id="written wins",
        ),
        pytest.param(
            "{keywords: [SURVEY], restart: never}", None, RESTART_NEVER, id="a one-off survey"
        ),
    ],
)
def test_restart_defaults_by_the_trigger_that_fires(
    triggers: str, started_by: str | None, rule: Restart
) -> None:
    parsed = parse_flow(f"flow: t\ntriggers: {triggers}\nsteps:\n  - send: hi\n", "t.yaml")
    assert parsed.flow is not None, parsed.problems
    assert parsed.flow.triggers.restart_for(started_by) == rule


LAST_START = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rule", "last_started", "now", "allowed"),
    [
        pytest.param(RESTART_NEVER, None, LAST_START, True, id="never: the first start"),
        pytest.param(RESTART_NEVER, LAST_START, LAST_START + timedelta(days=99), False, id="never"),
        pytest.param(RESTART_ALWAYS, LAST_START, LAST_START, True, id="always"),
        pytest.param(
            Restart(timedelta(days=30)),
            LAST_START,
            LAST_START + timedelta(days=29),
            False,
            id="within the period",
        ),
        pytest.param(
            Restart(timedelta(days=30)),
            LAST_START,
            LAST_START + timedelta(days=30),
            True,
            id="the period has passed",
        ),
    ],
)
def test_restart_allows(
    rule: Restart, last_started: datetime | None, now: datetime, allowed: bool
) -> None:
    assert rule.allows(last_started, now) is allowed


def test_restart_on_a_flow_nothing_triggers_is_a_warning() -> None:
    assert problems(
        """
        flow: t
        triggers:
          restart: never
        steps:
          - send: hi
        """
    ) == [
        "t.yaml:3: warning: restart has no effect: nothing triggers this flow (a start_flow step "
        "starts it whatever restart says)"
    ]


# Issue 15 item 7: the checker tells the marketer what a typo will do, and what to write.
SUGGESTION_CASES = [
    case(
        "a choice compared with a value that is none of its options",
        """
        flow: t
        steps:
          - id: confirm
            ask: "Reply AGENT for a person or CANCEL"
            expect: choice
            options: [AGENT, CANCEL]
          - branch:
              - if: confirm == "AGNET"
                goto: person
              - else: bye
          - id: person
            handoff: "Connecting you"
          - id: bye
            end: Bye
        """,
        "t.yaml:8: confirm is never 'AGNET': it holds one of the options AGENT, CANCEL"
        " (did you mean 'AGENT'?)",
    ),
    case(
        "a choice listed with `in`, one value misspelt in another case",
        """
        flow: t
        steps:
          - id: size
            ask: "Which size?"
            expect: choice
            options: [Small, Large]
          - branch:
              - if: size in ["Small", "large"]
                goto: thanks
          - id: thanks
            end: Thanks
        """,
        "t.yaml:8: size is never 'large': it holds one of the options Small, Large"
        " (did you mean 'Large'?)",
    ),
    case(
        "a choice compared with its options as written: nothing to say",
        """
        flow: t
        steps:
          - id: size
            ask: "Which size?"
            expect: choice
            options: [Small, Large]
          - branch:
              - if: size != "Small" and "Large" == size
                goto: thanks
          - id: thanks
            end: Thanks
        """,
    ),
    case(
        "a typo in a jump: the nearest step id",
        """
        flow: t
        steps:
          - goto: thnaks
          - id: thanks
            end: Thanks
        """,
        "t.yaml:3: jump to a step that does not exist: 'thnaks' (did you mean 'thanks'?)",
    ),
    case(
        "a typo in a variable and in a condition: the nearest name",
        """
        flow: t
        steps:
          - id: score
            ask: "0-10?"
            expect: number
          - branch:
              - if: scroe > 8
                goto: thanks
          - id: thanks
            end: "Thanks {frist_name}"
        """,
        f"t.yaml:7: unknown name 'scroe' in condition (did you mean 'score'?) ({KNOWN_NAMES}"
        ", score)".replace("phone, support, score", "phone, score, support"),
        "t.yaml:9: unknown template variable {frist_name} (did you mean 'first_name'?)"
        f" ({KNOWN_NAMES}, score)".replace("phone, support, score", "phone, score, support"),
    ),
    case(
        "a duplicated step id is one error, not four",
        """
        flow: t
        steps:
          - id: hello
            send: Hi
          - id: q
            ask: "Age?"
            expect: number
          - id: q
            ask: "Name?"
          - id: hello
            send: Bye
          - branch:
              - if: q > 3
                goto: hello
          - end: done
        """,
        "t.yaml:8: step id 'q' is already used on line 5: give each step its own id",
        "t.yaml:10: step id 'hello' is already used on line 3: give each step its own id",
    ),
    case(
        "bad YAML: a value with ': ' unquoted, with line and column",
        """
        flow: t
        steps:
          - send: Hi: your order shipped
        """,
        "t.yaml:3:13: bad YAML: mapping values are not allowed here; a value with ': ' in it must"
        ' be quoted, e.g. send: "Hi: your order shipped"',
    ),
    case(
        "bad YAML: a tab",
        "flow: t\nsteps:\n\t- send: hi\n",
        "t.yaml:3:1: bad YAML: found character '\\t' that cannot start any token; indent with"
        " spaces, not tabs",
    ),
]
BRAND_WARNING = (
    "warning: promotional flow: no text names the brand (start it with '{brand}: ' so people"
    " know who is texting)"
)
BRAND_CASES = [
    case(
        "a promotional flow that never names the brand",
        """
        flow: t
        settings:
          promotional: true
        steps:
          - send: "20% off boots this week! Reply STOP to opt out."
        """,
        f"t.yaml:5: {BRAND_WARNING}",
    ),
    case(
        "the brand written out, in any case, names it",
        """
        flow: t
        settings:
          promotional: true
        steps:
          - send: "PARLEY sale: 20% off boots! Reply STOP to opt out."
        """,
    ),
    case(
        "a transactional flow need not name the brand",
        """
        flow: t
        steps:
          - send: "Your order has shipped."
        """,
    ),
]


@pytest.mark.parametrize(("text", "expected"), SUGGESTION_CASES + BRAND_CASES)
def test_what_a_typo_will_do(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


SUPPORT = """
flow: support
triggers:
  keywords: [HELPME]
steps:
  - id: confirm
    ask: "Reply AGENT for a person, or CANCEL"
    expect: choice
    options: [AGENT, CANCEL]
  - id: person
    handoff: Connecting you
"""
AGENT = """
flow: agent
triggers:
  keywords: [Agent]
steps:
  - send: "An agent will text you"
"""


def test_a_keyword_that_swallows_another_flows_answer() -> None:
    found = check_flow_set(parsed_files({"support.yaml": SUPPORT, "agent.yaml": AGENT}))
    assert [str(problem) for problem in found] == [
        "agent.yaml:3: trigger keyword 'Agent' takes the answer 'AGENT' away from flow 'support'"
        " (support.yaml:5): a person who replies AGENT there would start 'agent' instead; choose"
        " another keyword, or set interruptible: false in 'support'"
    ]
    patient = SUPPORT.replace("steps:", "settings:\n  interruptible: false\nsteps:")
    assert check_flow_set(parsed_files({"support.yaml": patient, "agent.yaml": AGENT})) == []


def test_start_flow_suggests_the_nearest_flow() -> None:
    menu = "flow: menu\nsteps:\n  - start_flow: suport\n"
    found = check_flow_set(parsed_files({"support.yaml": SUPPORT, "menu.yaml": menu}))
    assert [str(p) for p in found] == [
        "menu.yaml:3: start_flow: no flow named 'suport' (did you mean 'support'?)"
    ]


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("- sned: hi", f"t.yaml:3: unknown step type 'sned' (did you mean 'send'?) ({STEP_TYPES})"),
        (
            "- send: hi\n    nxet: x",
            "t.yaml:4: unknown key 'nxet' (did you mean 'next'?) in a send step"
            " (known: id, media, next, send)",
        ),
    ],
)
def test_a_misspelt_step_suggests_the_nearest_word(step: str, expected: str) -> None:
    assert problems(f"flow: t\nsteps:\n  {step}\n") == [expected]
