"""`bot flows test` and `bot flows check` as a marketer meets them: passes, failures, mistakes.

The shipped flows only show that good scripts pass; here a script that is wrong must fail, say
which line and what the bot said instead, and a malformed script must be named, not crash.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import main

# Subscribed already (no double opt-in in every script); one wait, one question, an event.
REMINDER = """\
flow: reminder
triggers:
  keywords: [REMIND]
  events: [cart_abandoned]
settings:
  cancel_on: [order_placed]
steps:
  - send: "Noted. We will remind you tomorrow."
  - id: a_day
    wait: 1d
  - id: sure
    ask: "Reminder: your cart is waiting. How sure are you, 1 to 5?"
    expect: rating
  - set:
      add_tags: [reminded]
  - end: "Thanks!"
"""

SUBSCRIBED = "    subscriber: {status: subscribed, first_name: Ann}\n"


def script(name: str, *lines: str) -> str:
    body = "".join(f"      - {line}\n" for line in lines)
    return f"  - name: {name}\n{SUBSCRIBED}    conversation:\n{body}"


def flows_folder(tmp_path: Path, tests: str, flow: str = REMINDER) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir(exist_ok=True)
    (folder / "reminder.yaml").write_text(flow + "\ntests:\n" + tests, encoding="utf-8")
    return folder


def run(folder: Path, monkeypatch: pytest.MonkeyPatch, command: str = "test") -> Result:
    monkeypatch.setenv("FLOWS_DIR", str(folder))
    monkeypatch.setenv("BRAND_NAME", "Acme")
    return CliRunner().invoke(main, ["flows", command])


def line_of(folder: Path, text: str) -> int:
    lines = (folder / "reminder.yaml").read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def test_a_script_that_matches_passes_and_a_day_passes_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = flows_folder(
        tmp_path,
        script(
            "remind me",
            "user: REMIND",
            "bot: Noted. We will remind you tomorrow.",
            "wait: 1d",
            "bot: /cart is waiting/",
            'user: "4"',
            "bot: Thanks!",
            "expect: {answers: {sure: 4}, tags: [reminded]}",
        ),
    )
    result = run(folder, monkeypatch)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"PASS {folder / 'reminder.yaml'}:{line_of(folder, 'name: remind me')}: remind me",
        "1 passed, 0 failed",
    ]


NEWS = """\
flow: news
triggers:
  keywords: [NEWS]
steps:
  - send: "Three pieces of news in an hour."
  - id: an_hour
    wait: 1h
  - send: "One"
  - send: "Two"
  - end: "Three"
"""


def test_a_script_never_waits_for_the_send_rate_in_real_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One text every 1,000 s: paced in real time, the script would take most of an hour.
    monkeypatch.setenv("SEND_RATE", "0.001")
    folder = flows_folder(
        tmp_path,
        script(
            "news", "user: NEWS", "bot: /news/", "wait: 1h", "bot: One", "bot: Two", "bot: Three"
        ),
        flow=NEWS,
    )
    results: list[Result] = []
    playing = threading.Thread(target=lambda: results.append(run(folder, monkeypatch)), daemon=True)
    playing.start()
    playing.join(120)
    assert results, "the script still waits: a simulation was paced on the wall clock"
    assert results[0].exit_code == 0, results[0].output


def test_a_wrong_bot_line_fails_with_the_line_and_what_the_bot_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = flows_folder(
        tmp_path,
        script("wrong text", "user: REMIND", "bot: Noted. We will remind you next week."),
    )
    result = run(folder, monkeypatch)
    assert result.exit_code == 1
    line = line_of(folder, "remind you next week")
    assert result.output.splitlines()[1:] == [
        f"    line {line}: expected bot text 'Noted. We will remind you next week.'",
        "      got: 'Noted. We will remind you tomorrow.'",
        "0 passed, 1 failed",
    ]
    assert result.output.startswith(f"FAIL {folder / 'reminder.yaml'}:")


def test_time_only_passes_as_far_as_the_script_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = flows_folder(
        tmp_path,
        script("too early", "user: REMIND", "bot: /remind you/", "wait: 23h", "bot: /cart/"),
    )
    result = run(folder, monkeypatch)
    assert result.exit_code == 1
    line = line_of(folder, "bot: /cart/")
    assert result.output.splitlines()[1:] == [
        f"    line {line}: expected bot text '/cart/', but the bot said nothing",
        "0 passed, 1 failed",
    ]


def test_every_bot_text_must_be_expected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = flows_folder(
        tmp_path,
        script("skips a text", "user: REMIND", "wait: 1d", 'user: "4"')
        + script("stops listening", "user: REMIND"),
    )
    result = run(folder, monkeypatch)
    assert result.exit_code == 1
    wait_line = line_of(folder, "- wait: 1d")
    answer_line = line_of(folder, '- user: "4"')
    assert result.output.splitlines() == [
        f"FAIL {folder / 'reminder.yaml'}:{line_of(folder, 'name: skips a text')}: skips a text",
        f"    line {wait_line}: unexpected bot text before this line:"
        " 'Noted. We will remind you tomorrow.'",
        f"    line {answer_line}: unexpected bot text before this line:"
        " 'Reminder: your cart is waiting. How sure are you, 1 to 5?'",
        "    end of script: unexpected bot text 'Thanks!'",
        f"FAIL {folder / 'reminder.yaml'}:{line_of(folder, 'name: stops listening')}:"
        " stops listening",
        "    end of script: unexpected bot text 'Noted. We will remind you tomorrow.'",
        "0 passed, 2 failed",
    ]


def test_events_and_stored_state_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = flows_folder(
        tmp_path,
        script(
            "an order ends the reminders",
            "event: cart_abandoned",
            "bot: /remind you tomorrow/",
            "event: {type: order_placed, data: {order: A1}}",
            "wait: 2d",
            "expect: {tags: [reminded], status: subscribed}",
        ),
    )
    result = run(folder, monkeypatch)
    assert result.exit_code == 1
    line = line_of(folder, "expect: {tags")
    # The event started the flow and the order ended it before the tag was set: the script's
    # claim about tags is wrong (and only that: the status matches, and no reminder came).
    assert result.output.splitlines()[1:] == [
        f"    line {line}: expected tags ['reminded'], got []",
        "0 passed, 1 failed",
    ]


@pytest.mark.parametrize(
    ("tests", "marker", "message"),
    [
        (
            script("typo", "usr: REMIND"),
            "usr: REMIND",
            "unknown conversation line 'usr' (use user, bot, wait, event, expect, http)",
        ),
        (
            script("bad wait", "wait: soon"),
            "wait: soon",
            "wait: cannot read 'soon' as a duration; write it like 30s, 15m, 2h, 1d, 1w, 1d 12h"
            " or 90 minutes",
        ),
        (
            script("bare event", "event: {data: {a: 1}}"),
            "event: {data",
            "event needs a type, e.g. event: order_placed",
        ),
        (
            "  - name: bad status\n    subscriber: {status: vip}\n    conversation: []\n",
            "subscriber: {status: vip}",
            "subscriber status 'vip' is not one of new, pending, subscribed, unsubscribed",
        ),
        ("  - name: no lines\n", "name: no lines", "a test needs a name and a conversation: list"),
        (
            script("bad http", "http: {status: 200, answer: {}}"),
            "http: {status: 200, answer",
            "http takes timeout, or a mapping of status and json (and url, method to check the "
            "call), e.g. http: {status: 200, json: {order: {status: shipped}}}",
        ),
        (
            script("bad http status", "http: {status: 42}"),
            "http: {status: 42}",
            "http: status 42 is not an HTTP status such as 200",
        ),
    ],
    ids=[
        "unknown line",
        "bad duration",
        "event without type",
        "bad status",
        "no conversation",
        "bad http",
        "bad http status",
    ],
)
def test_a_malformed_script_is_named_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tests: str, marker: str, message: str
) -> None:
    folder = flows_folder(tmp_path, tests)
    result = run(folder, monkeypatch)
    assert result.exit_code == 1
    line = line_of(folder, marker)
    assert result.output.splitlines()[1:] == [f"    {message}", "0 passed, 1 failed"]
    assert result.output.startswith(f"FAIL {folder / 'reminder.yaml'}:{line}: "), result.output


def test_scripts_may_live_in_a_file_beside_the_flow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "reminder.yaml").write_text(REMINDER, encoding="utf-8")
    sibling = folder / "reminder.tests.yaml"
    sibling.write_text(
        "tests:\n" + script("from the side", "user: REMIND", "bot: /tomorrow/"), encoding="utf-8"
    )
    result = run(folder, monkeypatch)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"PASS {sibling}:2: from the side"


def test_a_broken_flow_is_reported_and_not_tested(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = REMINDER.replace("    wait: 1d", "    wait: 1d\n    next: nowhere")
    folder = flows_folder(tmp_path, script("never runs", "user: REMIND"), flow=broken)
    line = line_of(folder, "next: nowhere")

    checked = run(folder, monkeypatch, "check")
    assert checked.exit_code == 1
    assert checked.output.splitlines() == [
        f"{folder / 'reminder.yaml'}:{line}: jump to a step that does not exist: 'nowhere'",
        "1 flow file: 1 error, 0 warnings",
    ]

    tested = run(folder, monkeypatch)
    assert tested.exit_code == 1
    assert "Error: fix the errors above first (`bot flows check`)" in tested.output
    assert "never runs" not in tested.output


MENU = """\
flow: menu
triggers:
  keywords: [MENU]
steps:
  - start_flow: reminder
"""


def test_checking_one_file_weighs_it_against_the_flows_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = flows_folder(tmp_path, script("ok", "user: REMIND", "bot: /tomorrow/"))
    menu = folder / "menu.yaml"
    menu.write_text(MENU, encoding="utf-8")
    clash = folder / "clash.yaml"
    clash.write_text(MENU.replace("flow: menu", "flow: clash").replace("MENU", "REMIND"))
    runner = CliRunner()
    monkeypatch.setenv("BRAND_NAME", "Acme")

    # The flow menu starts is beside it, though not named on the command line.
    alone = runner.invoke(main, ["flows", "check", str(menu)])
    assert alone.exit_code == 0, alone.output
    assert alone.output == "1 flow file: 0 errors, 0 warnings\n"

    # A keyword taken by a flow beside it is an error, and only the named file is reported.
    clashing = runner.invoke(main, ["flows", "check", str(clash)])
    assert clashing.exit_code == 1
    assert clashing.output.splitlines() == [
        f"{clash}:3: trigger keyword 'REMIND' is also used by flow 'reminder'"
        f" ({folder / 'reminder.yaml'}:3)",
        "1 flow file: 1 error, 0 warnings",
    ]


def test_warnings_alone_do_not_fail_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    # An en dash: the text goes out as UCS-2, a warning, not an error.
    (folder / "reminder.yaml").write_text(
        REMINDER.replace("Noted.", "Noted – see you."), encoding="utf-8"
    )
    result = run(folder, monkeypatch, "check")
    assert result.exit_code == 0, result.output
    assert "UCS-2" in result.output
    assert result.output.endswith("1 flow file: 0 errors, 1 warning\n")


# A lookup in the shop: `bot flows test` answers its call from the script's http: lines.
STATUS = """\
flow: reminder
triggers:
  keywords: [STATUS]
steps:
  - id: lookup
    http:
      url: "https://shop.example/api/orders?phone={phone}"
      headers: {Authorization: "Bearer ${SHOP_TOKEN}"}
      save: {status: order.status}
      save_attributes: {tier: customer.tier}
    on_failure: sorry
  - end: "Your order is {status}."
  - id: sorry
    end: "Sorry, we cannot look that up now."
"""
SHIPPED = "http: {status: 200, json: {order: {status: shipped}, customer: {tier: gold}}}"


def test_http_lines_answer_the_calls_in_order_without_a_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = flows_folder(
        tmp_path,
        script(
            "found, then the shop is slow",
            "http: {url: '/orders\\?phone=%2B14155550123$/', method: GET, "
            "json: {order: {status: shipped}, customer: {tier: gold}}}",
            "user: STATUS",
            "bot: Your order is shipped.",
            "expect: {answers: {status: shipped}, attributes: {tier: gold}}",
            "http: timeout",
            "user: STATUS",
            "bot: Sorry, we cannot look that up now.",
            "http: {status: 404}",
            "user: STATUS",
            "bot: /cannot look that up/",
        ),
        flow=STATUS,
    )
    result = run(folder, monkeypatch)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "1 passed, 0 failed"


def test_a_call_no_line_answers_and_a_line_no_call_takes_fail_the_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = flows_folder(
        tmp_path,
        script("unanswered", "user: STATUS", "bot: /cannot look that up/")
        + script("unused", SHIPPED, "user: HELP", "bot: /./"),
        flow=STATUS,
    )
    result = run(folder, monkeypatch)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[1] == (
        f"    line {line_of(folder, 'user: STATUS')}: the flow called GET "
        "https://shop.example/api/orders?phone=%2B14155550123, but no http: line answers it "
        "(write one before the line that leads to the call)"
    )
    assert lines[3] == f"    line {line_of(folder, SHIPPED)}: no call took this http: answer"
    assert lines[-1] == "0 passed, 2 failed"


def test_an_http_line_may_check_the_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = "http: {url: 'https://shop.example/api/orders', method: POST, status: 200}"
    folder = flows_folder(
        tmp_path,
        script("wrong call", expected, "user: STATUS", "bot: /cannot look that up/"),
        flow=STATUS,
    )
    result = run(folder, monkeypatch)
    assert result.exit_code == 1
    line = line_of(folder, expected)
    called = "GET https://shop.example/api/orders?phone=%2B14155550123"
    assert result.output.splitlines()[1:] == [
        f"    line {line}: expected a call to 'https://shop.example/api/orders'",
        f"      got: {called}",
        f"    line {line}: expected a POST, got: {called}",
        "0 passed, 1 failed",
    ]


@pytest.mark.parametrize(
    ("written", "line", "message"),
    [
        pytest.param(
            "tests:\n" + script("bad indent", "user: REMIND") + "       - bot: /tomorrow/\n",
            6,
            ":8: bad YAML: expected <block end>, but found '<block sequence start>'; check the"
            " indentation",
            id="bad YAML, with its line and column",
        ),
        pytest.param(
            "test:\n" + script("misnamed", "user: REMIND"),
            1,
            ": a tests file holds `tests:`, a list of scripts (did you mean 'tests'?)",
            id="no tests: key",
        ),
        pytest.param(
            "tests:\n  - name: no conversation\n",
            2,
            ": tests: a test needs a name and a conversation: list",
            id="a script without its conversation",
        ),
    ],
)
def test_a_broken_tests_file_is_blamed_not_its_flow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: str, line: int, message: str
) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "reminder.yaml").write_text(REMINDER, encoding="utf-8")
    sibling = folder / "reminder.tests.yaml"
    sibling.write_text(written, encoding="utf-8")

    checked = run(folder, monkeypatch, "check")
    assert checked.exit_code == 1, checked.output
    first = checked.output.splitlines()[0]
    assert first.startswith(f"{sibling}:{line}"), checked.output
    assert message in first

    tested = run(folder, monkeypatch)
    assert tested.exit_code == 1
    assert tested.output.startswith(f"FAIL {sibling}:{line}: "), tested.output
    assert str(folder / "reminder.yaml") not in tested.output
