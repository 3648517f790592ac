"""The saved replies file (`FLOWS_DIR/replies.yaml`) and the labels file (`labels.yaml`): what
`bot flows check` says about them, by line, and how a broken one keeps the last good version."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.conversations.team_files import saved_replies
from bot.engine.conversation_labels import parse_labels
from bot.engine.saved_replies import parse_replies
from tests.support.paths import SHIPPED_FLOWS

GOOD = """\
replies:
  - shortcut: shipping
    title: Shipping times
    text: "Hi {first_name|there}, orders ship within a day. {brand}"
  - shortcut: Hours
    title: Opening hours
    text: "9 to 5; otherwise write to {support}."
"""


def problems_of(text: str) -> list[str]:
    return [
        str(problem) for problem in parse_replies(textwrap.dedent(text), "replies.yaml").problems
    ]


def test_a_good_file_has_its_replies_filled_in_per_person() -> None:
    parsed = parse_replies(GOOD, "replies.yaml")
    assert parsed.problems == []
    assert [(reply.shortcut, reply.title) for reply in parsed.replies] == [
        ("shipping", "Shipping times"),
        ("hours", "Opening hours"),
    ]
    shipping = parsed.find("/Shipping")
    assert shipping is not None
    assert shipping.render({"first_name": None, "brand": "Acme"}) == (
        "Hi there, orders ship within a day. Acme"
    )
    assert parsed.find("nope") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("replies: [\n  - shortcut: a\n", "replies.yaml:2:3: bad YAML"),  # where it broke
        ("offers: []\n", "replies.yaml:1: unknown key 'offers' (the file holds replies:)"),
        (
            "replies:\n  - shortcut: ship\n    title: A\n    text: x\n"
            "  - shortcut: SHIP\n    title: B\n    text: y\n",
            "replies.yaml:5: shortcut 'ship' is already used on line 2",
        ),
        (
            "replies:\n  - shortcut: ship\n    title: A\n    text: 'Hi {frist_name}'\n",
            "replies.yaml:4: unknown template variable {frist_name} (did you mean 'first_name'?)"
            " (known: attributes, brand, first_name, phone, support)",
        ),
        (
            "replies:\n  - shortcut: ship it\n    title: A\n    text: x\n",
            "replies.yaml:2: shortcut must be one word of up to 32 letters, digits, - or _ "
            "(typed as /shortcut), e.g. shipping",
        ),
        (
            "replies:\n  - shortcut: ship\n    text: x\n",
            "replies.yaml:2: title needs some text: the picker shows it",
        ),
        (
            "replies:\n  - shortcut: ship\n    title: A\n    text: 'Hi {first_name'\n",
            "replies.yaml:4: text: unclosed '{': end the placeholder with '}', or write '{{' "
            "for a literal brace",
        ),
        (
            "replies:\n  - shortcut: ship\n    title: A\n    txet: x\n",
            "replies.yaml:4: unknown key 'txet' (did you mean 'text'?) (shortcut, text, title)",
        ),
    ],
)
def test_each_mistake_is_named_with_its_line(text: str, expected: str) -> None:
    problems = problems_of(text)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_a_file_with_a_mistake_offers_no_replies() -> None:
    parsed = parse_replies(GOOD + "  - shortcut: shipping\n    title: Again\n    text: x\n", "r")
    assert parsed.replies == () and len(parsed.problems) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "labels:\n  - name: vip\n  - name: VIP\n",
            "labels.yaml:3: label 'vip' is already on line 2",
        ),
        (
            "labels:\n  - name: big spender\n",
            "labels.yaml:2: a label is one word of up to 32 letters, digits, - or _, e.g. vip",
        ),
        ("labels:\n  - nmae: vip\n", "labels.yaml:2: unknown key 'nmae' (did you mean 'name'?)"),
        ("labels: {vip: 1}\n", "labels.yaml:1: a labels file holds `labels:`"),
    ],
)
def test_each_labels_file_mistake_is_named_with_its_line(text: str, expected: str) -> None:
    problems = [str(problem) for problem in parse_labels(text, "labels.yaml").problems]
    assert any(problem.startswith(expected) for problem in problems), problems


def test_bot_flows_check_reports_bad_replies_and_labels_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replies = tmp_path / "replies.yaml"
    replies.write_text(
        "replies:\n  - shortcut: ship\n    title: A\n    text: 'Hi {name}'\n"
        "  - shortcut: ship\n    title: B\n    text: x\n"
    )
    labels = tmp_path / "labels.yaml"
    labels.write_text("labels:\n  - name: vip\n  - name: vip\n")
    monkeypatch.setenv("FLOWS_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["flows", "check"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{replies}:4: unknown template variable {{name}} (known: attributes, brand, first_name,"
        " phone, support)",
        f"{replies}:5: shortcut 'ship' is already used on line 2",
        f"{labels}:3: label 'vip' is already on line 2",
        "0 flow files: 3 errors, 0 warnings",
    ]


def test_the_shipped_files_are_clean_and_cover_the_usual_questions() -> None:
    replies = parse_replies((SHIPPED_FLOWS / "replies.yaml").read_text(), "replies.yaml")
    assert replies.problems == []
    assert {"shipping", "returns", "status", "hours"} <= {r.shortcut for r in replies.replies}
    labels = parse_labels((SHIPPED_FLOWS / "labels.yaml").read_text(), "labels.yaml")
    assert labels.problems == [] and labels.labels


def test_a_broken_file_keeps_the_last_good_replies_until_it_is_fixed(tmp_path: Path) -> None:
    path = tmp_path / "replies.yaml"
    in_force = saved_replies(tmp_path)
    assert in_force.current().replies == ()  # no file: no saved replies, nothing wrong
    path.write_text(GOOD)
    assert [reply.shortcut for reply in in_force.current().replies] == ["shipping", "hours"]
    path.write_text(GOOD.replace("{brand}", "{brnad}"))
    _touch_later(path)
    assert [reply.shortcut for reply in in_force.current().replies] == ["shipping", "hours"]
    path.write_text(GOOD.replace("Shipping times", "Delivery"))
    _touch_later(path)
    assert in_force.current().replies[0].title == "Delivery"


def _touch_later(path: Path) -> None:
    """A new time stamp, whatever the file system's resolution: the change is seen."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
