"""Labels on conversations: from flows/labels.yaml or created by admins, put on and taken off
on the conversation page, and a filter on the conversations list."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.store.models import ConversationLabel, Label
from tests.support.inbox import Inbox, post
from tests.support.paths import SHIPPED_FLOWS
from tests.support.sms import BOB

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def inbox(database_url: str) -> Inbox:
    return Inbox(database_url)


def test_a_label_from_the_file_goes_on_and_filters_the_list(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    inbox.text("FEEDBACK", phone=BOB)  # someone else's conversation, unlabelled
    page = f"/inbox/conversations/{conversation_id}"
    dana = inbox.logged_in("dana@acme.test")
    assert '<option value="vip"' in dana.get(page).get_data(as_text=True)

    added = post(dana, f"{page}/labels", label="VIP")
    assert added.status_code == 302 and added.location == page
    again = post(dana, f"{page}/labels", label="vip")  # twice is once
    assert again.status_code == 302 and len(inbox.rows(ConversationLabel)) == 1
    assert 'href="/inbox/conversations?label=vip">vip</a>' in dana.get(page).get_data(as_text=True)

    everyone = dana.get("/inbox/conversations").get_data(as_text=True)
    vip = dana.get("/inbox/conversations?label=vip").get_data(as_text=True)
    refunds = dana.get("/inbox/conversations?label=refund").get_data(as_text=True)
    assert BOB in everyone and page in everyone
    assert BOB not in vip and page in vip
    assert page not in refunds and "No conversation matches." in refunds

    removed = post(dana, f"{page}/labels/remove", label="vip")
    assert removed.status_code == 302 and inbox.rows(ConversationLabel) == []
    assert page not in dana.get("/inbox/conversations?label=vip").get_data(as_text=True)


def test_an_unknown_label_is_refused(inbox: Inbox) -> None:
    conversation_id = inbox.handed_off()
    dana = inbox.logged_in("dana@acme.test")
    refused = post(dana, f"/inbox/conversations/{conversation_id}/labels", label="nonsense")
    assert refused.status_code == 422
    assert "There is no label &#39;nonsense&#39;" in refused.get_data(as_text=True)
    assert post(dana, "/inbox/conversations/999/labels", label="vip").status_code == 422
    assert inbox.rows(ConversationLabel) == []


def test_only_an_admin_creates_a_label(inbox: Inbox) -> None:
    dana = inbox.logged_in("dana@acme.test")
    assert 'name="name"' not in dana.get("/inbox/labels").get_data(as_text=True)
    forbidden = post(dana, "/inbox/labels", name="wholesale")
    assert forbidden.status_code == 403 and inbox.rows(Label) == []

    ada = inbox.logged_in("ada@acme.test")
    created = post(ada, "/inbox/labels", name="Wholesale")
    assert created.status_code == 302 and [row.name for row in inbox.rows(Label)] == ["wholesale"]
    listed = dana.get("/inbox/labels").get_data(as_text=True)
    assert "wholesale" in listed and "created here" in listed and "labels.yaml" in listed
    # Any agent may now put it on a conversation.
    conversation_id = inbox.handed_off()
    added = post(dana, f"/inbox/conversations/{conversation_id}/labels", label="wholesale")
    assert added.status_code == 302


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("vip", "The label &#39;vip&#39; exists already."),  # the file's
        ("two words", "A label is one word"),
        (SCRIPT, "A label is one word"),
    ],
)
def test_a_bad_or_taken_label_name_is_refused(inbox: Inbox, name: str, why: str) -> None:
    ada = inbox.logged_in("ada@acme.test")
    refused = post(ada, "/inbox/labels", name=name)
    assert refused.status_code == 422 and why in refused.get_data(as_text=True)
    assert SCRIPT not in refused.get_data(as_text=True)
    assert inbox.rows(Label) == []


def test_every_team_route_needs_a_login_and_every_post_its_csrf_token(inbox: Inbox) -> None:
    rules = [
        rule for rule in inbox.app.url_map.iter_rules() if rule.endpoint.startswith("inbox.team.")
    ]
    # notes, mention read, the mentions page, saved reply, labels, label add, remove
    assert len(rules) == 7
    conversation_id = inbox.handed_off()
    dana = inbox.logged_in("dana@acme.test")
    for rule in rules:
        path = re.sub(r"<[^>]*conversation_id>", str(conversation_id), rule.rule)
        path = re.sub(r"<[^>]*mention_id>", "1", path).replace("<shortcut>", "shipping")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            anonymous = inbox.new_client().open(path, method=method)
            assert anonymous.status_code in (302, 401), (method, path)
            if anonymous.status_code == 302:
                assert anonymous.location.startswith("/inbox/login"), (method, path)
            if method == "POST":
                forged = dana.post(path, data={"label": "vip", "body": "x", "name": "abc"})
                assert forged.status_code == 400, path
    assert inbox.rows(ConversationLabel) == [] and inbox.rows(Label) == []


def test_a_labels_description_is_shown_as_text(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "feedback.yaml").write_text((SHIPPED_FLOWS / "feedback.yaml").read_text())
    (tmp_path / "labels.yaml").write_text(f"labels:\n  - name: vip\n    description: '{SCRIPT}'\n")
    inbox = Inbox(database_url, flows_dir=tmp_path)
    conversation_id = inbox.handed_off()
    dana = inbox.logged_in("dana@acme.test")
    for path in ("/inbox/labels", f"/inbox/conversations/{conversation_id}"):
        page = dana.get(path).get_data(as_text=True)
        assert SCRIPT not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path
