"""One write path: the functions that turn effects into rows are called from apply.py only.

A new caller elsewhere is a second write path (the defect issue 13 found three of); the few
writers that are not a person's turn are listed here with the reason they stand apart.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import ROOT

APPLY = "bot/conversations/apply.py"
ROW_WRITERS = (
    "queue_text",
    "change_status",
    "record_consent",
    "fill_first_name",
    "set_email",
    "save_name_and_timezone",
    "save_profile",
    "record_answer",
    "record_visits",
    "open_conversation",
    "save_state",
    "end_conversation",
    "record_unanswered",
    "issue_once",
)
# Batch forms of the writers above, for the writers apart below (apply.py has no batches).
BATCH_WRITERS = ("queue_texts",)
# Writers that are not a person's turn, each for its reason.
ELSEWHERE = {
    # A campaign queues its texts for a whole segment in one batch, no conversation involved.
    ("queue_texts", "bot/campaigns/send.py"),
    # The carrier's own opt-out (Twilio 21610), learnt by the dispatcher below the
    # conversations room, in the same transaction as the failed text.
    ("change_status", "bot/store/subscribers.py"),
    ("record_consent", "bot/store/subscribers.py"),
    # A conversation whose timer failed is ended straight on its row: reading it may be what
    # failed.
    ("end_conversation", "bot/conversations/service.py"),
}


def calls_outside_apply() -> set[tuple[str, str]]:
    found = set()
    for path in sorted((ROOT / "bot").rglob("*.py")):
        where = path.relative_to(ROOT).as_posix()
        if where == APPLY:
            continue
        for node in ast.walk(ast.parse(path.read_text(), where)):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in ROW_WRITERS or name in BATCH_WRITERS:
                    found.add((name, where))
    return found


def test_effects_become_rows_in_apply_only() -> None:
    assert calls_outside_apply() == ELSEWHERE


def test_apply_is_where_they_are_called() -> None:
    source = Path(ROOT / APPLY).read_text()
    missing = [name for name in ROW_WRITERS if f"{name}(" not in source]
    assert missing == []
