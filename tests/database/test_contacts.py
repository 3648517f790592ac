"""The inbox's contacts over HTTP: search and paging, a contact's page, texting them first,
tags, an opt-out recorded by an agent, erasure, and the inbox's rules (login, CSRF, escaping)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from bot.conversations.requests import ProfilePatch
from bot.domain.vocabulary import ConsentKind, SubscriberStatus
from bot.store.db import transaction
from bot.store.models import ConsentEvent, Message, Subscriber
from bot.store.subscribers import claim_subscriber
from tests.support.inbox import OWN_SCRIPTS, Inbox, post
from tests.support.sms import ALICE, BOB, reply_to

CAROL = "+14155550102"  # texted STOP and nothing else: opted out, never in a conversation
ALICE_SEARCHES = ["(415) 555-0100", "+1 415 555 0100", "415.555.0100", "14155550100", "0100"]


@pytest.fixture
def inbox(database_url: str) -> Inbox:
    """Alice (a first name, a tag, a state), Bob (no profile), Carol (opted out by STOP)."""
    inbox = Inbox(database_url)
    inbox.text("HELP", phone=ALICE)
    inbox.text("HELP", phone=BOB)
    inbox.text("STOP", phone=CAROL)
    attributes = {"state": "CA", "orders.count": 3}
    profile = ProfilePatch(first_name="Alice", attributes=attributes, add_tags=("vip",))
    inbox.services.conversations.update_profile(ALICE, profile)
    return inbox


@pytest.fixture
def dana(inbox: Inbox) -> FlaskClient:
    return inbox.logged_in("dana@acme.test")


def subscriber(inbox: Inbox, phone: str) -> Subscriber:
    return next(row for row in inbox.rows(Subscriber) if row.phone == phone)


def contact_url(inbox: Inbox, phone: str) -> str:
    return f"/inbox/contacts/{subscriber(inbox, phone).id}"


def found(client: FlaskClient, query: str, **more: str) -> list[str]:
    """The contact pages a search lists, in order."""
    page = client.get("/inbox/contacts", query_string={"q": query, **more})
    assert page.status_code == 200
    return re.findall(r'href="(/inbox/contacts/\d+)"', page.get_data(as_text=True))


# Search and paging


@pytest.mark.parametrize("query", ALICE_SEARCHES)
def test_a_phone_in_any_format_finds_the_contact(
    inbox: Inbox, dana: FlaskClient, query: str
) -> None:
    assert found(dana, query) == [contact_url(inbox, ALICE)]


@pytest.mark.parametrize(
    ("query", "who"),
    [
        ("ali", ALICE),  # a first name, in part, in any case
        ("vip", ALICE),  # a tag
        ("state=ca", ALICE),  # an attribute
        ("orders.count = 3", ALICE),  # a number, under a name with a dot
        ("0101", BOB),
        ("state=NY", None),
        ("a_ice", None),  # LIKE's wildcards are plain characters
        ("%", None),
        ('we"ird.$[0]=1', None),  # an attribute name is a name, never a JSON path
        ("=CA", None),
    ],
)
def test_search_by_name_tag_and_attribute(
    inbox: Inbox, dana: FlaskClient, query: str, who: str | None
) -> None:
    assert found(dana, query) == ([contact_url(inbox, who)] if who else [])


def test_the_person_who_opted_out_and_never_had_a_conversation_is_found(
    inbox: Inbox, dana: FlaskClient
) -> None:
    # The conversations list cannot find her: she never had one.
    assert "No conversation matches." in dana.get("/inbox/conversations?q=0102").get_data(
        as_text=True
    )
    (url,) = found(dana, "(415) 555-0102")
    page = dana.get(url).get_data(as_text=True)
    assert "opted out" in page and "No conversations." in page
    assert "opt out</strong> by sms (STOP)" in page
    assert "This number opted out: it cannot be texted." in page
    assert 'id="reply-form"' not in page


def test_every_contact_is_listed_newest_first_fifty_a_page(inbox: Inbox, dana: FlaskClient) -> None:
    with transaction(inbox.db) as connection:
        for number in range(60):
            claim_subscriber(connection, f"+1212555{number:04d}", inbox.clock())
    everyone = [f"/inbox/contacts/{row.id}" for row in reversed(inbox.rows(Subscriber))]
    first = dana.get("/inbox/contacts").get_data(as_text=True)
    first_page = re.findall(r'href="(/inbox/contacts/\d+)"', first)
    assert first_page == everyone[:50]
    (next_page,) = re.findall(r'rel="next" href="([^"]+)"', first)
    second = dana.get(next_page.replace("&amp;", "&")).get_data(as_text=True)
    assert re.findall(r'href="(/inbox/contacts/\d+)"', second) == everyone[50:]
    assert 'rel="next"' not in second and "First page" in second
    # A search pages the same way.
    assert found(dana, "212555") == everyone[:50]


def test_a_bad_page_is_a_clear_422_and_a_huge_one_starts_at_the_top(
    inbox: Inbox, dana: FlaskClient
) -> None:
    response = dana.get("/inbox/contacts?before=soon")
    assert response.status_code == 422
    assert "before" in response.get_data(as_text=True)
    everyone = [f"/inbox/contacts/{row.id}" for row in reversed(inbox.rows(Subscriber))]
    assert found(dana, "", before="9223372036854775807") == everyone


# A contact's page


def test_the_contact_page_shows_profile_ledger_texts_and_more(
    inbox: Inbox, dana: FlaskClient
) -> None:
    page = dana.get(contact_url(inbox, ALICE)).get_data(as_text=True)
    for shown in ("Alice", ALICE, "vip", "state", "CA", "not subscribed", "Customer", "HELP"):
        assert shown in page, shown
    for section in ("Campaigns received", "Clicks", "Orders and events", "Consent", "Answers"):
        assert f"<h2>{section}</h2>" in page


def test_an_unknown_contact_is_a_404(dana: FlaskClient) -> None:
    assert dana.get("/inbox/contacts/999999").status_code == 404
    assert dana.get("/inbox/contacts/9223372036854775807").status_code == 404  # past 32 bits
    for action in ("text", "tags", "opt-out", "erase"):
        response = post(dana, f"/inbox/contacts/999999/{action}", body="hi", add="x", confirm="yes")
        assert response.status_code in (403, 404), action
    assert "There is no such contact." in dana.get("/inbox/contacts/999999").get_data(as_text=True)


# Texting a contact first


def test_an_agent_texts_first_and_holds_the_chat(inbox: Inbox, dana: FlaskClient) -> None:
    sent = post(dana, f"{contact_url(inbox, BOB)}/text", body="Hi Bob, Dana from Acme here.")
    assert sent.status_code == 302
    conversation_id = int(sent.location.rsplit("/", 1)[1])
    assert inbox.sent_to(BOB)[-1] == "Hi Bob, Dana from Acme here."
    chat = inbox.conversation(conversation_id)
    assert (chat.handled_by, chat.agent_id) == ("agent", inbox.dana.id)
    text = next(row for row in inbox.rows(Message) if row.body.startswith("Hi Bob"))
    assert (text.purpose, text.agent_id) == ("transactional", inbox.dana.id)

    assert reply_to(inbox.new_client(), "Oh hi! Where is my order?", phone=BOB) == []  # bot quiet
    page = dana.get(sent.location).get_data(as_text=True)
    assert "You have this chat" in page and "Where is my order?" in page
    replied = post(dana, f"{sent.location}/reply", body="On its way!")
    assert replied.status_code == 302 and inbox.sent_to(BOB)[-1] == "On its way!"


def test_quiet_hours_do_not_hold_a_support_text(inbox: Inbox) -> None:
    inbox.clock.advance(timedelta(hours=15))  # 3 am in San Francisco
    dana = inbox.logged_in("dana@acme.test")
    sent = post(dana, f"{contact_url(inbox, ALICE)}/text", body="Your refund went through.")
    assert sent.status_code == 302
    assert inbox.sent_to(ALICE)[-1] == "Your refund went through."


def test_consent_holds_every_text_to_an_opted_out_contact(inbox: Inbox, dana: FlaskClient) -> None:
    before = len(inbox.gateway.outbox)
    refused = post(dana, f"{contact_url(inbox, CAROL)}/text", body="Hi Carol!")
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert "This number opted out: it cannot be texted." in page
    assert len(inbox.gateway.outbox) == before
    assert not [row for row in inbox.rows(Message) if row.body == "Hi Carol!"]


def test_a_chat_another_agent_holds_is_not_taken(inbox: Inbox, dana: FlaskClient) -> None:
    eli = inbox.logged_in("eli@acme.test")
    assert post(eli, f"{contact_url(inbox, BOB)}/text", body="Eli here").status_code == 302
    page = dana.get(contact_url(inbox, BOB)).get_data(as_text=True)
    assert "Eli has this chat" in page and 'id="reply-form"' not in page
    refused = post(dana, f"{contact_url(inbox, BOB)}/text", body="Dana here")
    assert refused.status_code == 409
    assert "Eli already has this chat." in refused.get_data(as_text=True)
    assert "Dana here" not in inbox.sent_to(BOB)


def test_an_empty_or_overlong_text_is_refused_with_the_draft_kept(
    inbox: Inbox, dana: FlaskClient
) -> None:
    url = contact_url(inbox, BOB)
    assert "Write something first." in post(dana, f"{url}/text", body="  ").get_data(as_text=True)
    long = post(dana, f"{url}/text", body="x" * 2000)
    assert long.status_code == 422 and "at most" in long.get_data(as_text=True)
    assert not any(text.startswith("xxx") for text in inbox.sent_to(BOB))


# Tags, opt-out, erasure


def test_tags_are_added_and_removed(inbox: Inbox, dana: FlaskClient) -> None:
    url = contact_url(inbox, BOB)
    assert post(dana, f"{url}/tags", add="wholesale").status_code == 302
    assert post(dana, f"{url}/tags", add="late-delivery").status_code == 302
    assert subscriber(inbox, BOB).tags == ["wholesale", "late-delivery"]
    assert found(dana, "wholesale") == [url]
    post(dana, f"{url}/tags", remove="wholesale")
    assert subscriber(inbox, BOB).tags == ["late-delivery"]
    refused = post(dana, f"{url}/tags", add="a;b")
    assert refused.status_code == 422 and "without &#39;;&#39;" in refused.get_data(as_text=True)
    assert subscriber(inbox, BOB).tags == ["late-delivery"]


def test_an_opt_out_asked_for_elsewhere_is_in_the_ledger_with_the_agent(
    inbox: Inbox, dana: FlaskClient
) -> None:
    url = contact_url(inbox, ALICE)
    assert post(dana, f"{url}/opt-out", note="Phoned support on 5 Jan").status_code == 302
    assert subscriber(inbox, ALICE).status == SubscriberStatus.UNSUBSCRIBED
    entry = [row for row in inbox.rows(ConsentEvent) if row.phone == ALICE][-1]
    assert (entry.kind, entry.source, entry.text) == (
        ConsentKind.OPT_OUT,
        "agent:dana@acme.test",
        "Phoned support on 5 Jan",
    )
    page = dana.get(url).get_data(as_text=True)
    assert "by agent:dana@acme.test" in page and "Phoned support on 5 Jan" in page
    assert post(dana, f"{url}/text", body="One more thing").status_code == 409
    assert "One more thing" not in inbox.sent_to(ALICE)
    # A second press writes nothing more.
    post(dana, f"{url}/opt-out")
    assert len([row for row in inbox.rows(ConsentEvent) if row.phone == ALICE]) == 1


def test_only_an_admin_erases(inbox: Inbox, dana: FlaskClient) -> None:
    url = contact_url(inbox, ALICE)
    assert "<h2>Erase</h2>" not in dana.get(url).get_data(as_text=True)
    assert post(dana, f"{url}/erase", confirm="yes").status_code == 403
    assert subscriber(inbox, ALICE).first_name == "Alice"

    ada = inbox.logged_in("ada@acme.test")
    assert post(ada, f"{url}/erase").status_code == 422  # the box was not ticked
    assert subscriber(inbox, ALICE).first_name == "Alice"
    assert post(ada, f"{url}/erase", confirm="yes").status_code == 302
    erased = subscriber(inbox, ALICE)
    assert (erased.first_name, erased.tags, erased.status) == (None, [], "unsubscribed")
    assert {row.body for row in inbox.rows(Message) if row.phone == ALICE} == {"[erased]"}


# The inbox's rules


ROUTES = [
    ("GET", "/inbox/contacts"),
    ("GET", "/inbox/contacts/1"),
    ("POST", "/inbox/contacts/1/text"),
    ("POST", "/inbox/contacts/1/tags"),
    ("POST", "/inbox/contacts/1/opt-out"),
    ("POST", "/inbox/contacts/1/erase"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_a_logged_in_agent(inbox: Inbox, method: str, path: str) -> None:
    response = inbox.new_client().open(path, method=method, data={"body": "hi", "add": "x"})
    assert response.status_code == 302
    assert response.location.startswith("/inbox/login?next=")


def test_a_post_without_the_csrf_token_changes_nothing(inbox: Inbox, dana: FlaskClient) -> None:
    url = contact_url(inbox, BOB)
    forms = {"text": {"body": "hi"}, "tags": {"add": "x"}, "opt-out": {}, "erase": {}}
    for action, form in forms.items():
        for token in ({}, {"csrf_token": "not-the-token"}):
            response = dana.post(f"{url}/{action}", data={**form, **token})
            assert response.status_code == 400, action
            assert "This form has expired" in response.get_data(as_text=True)
    bob = subscriber(inbox, BOB)
    assert (bob.tags, bob.status) == ([], SubscriberStatus.NEW)
    assert "hi" not in inbox.sent_to(BOB)


def test_every_value_is_shown_as_text(inbox: Inbox, dana: FlaskClient) -> None:
    markup = "<script>alert(1)</script>"
    patch = ProfilePatch(first_name=markup, attributes={"note": markup}, add_tags=(markup,))
    inbox.services.conversations.update_profile(BOB, patch)
    reply_to(inbox.new_client(), markup, phone=BOB)
    for path in ("/inbox/contacts", contact_url(inbox, BOB), "/inbox/contacts?q=%3Cscript"):
        page = dana.get(path).get_data(as_text=True)
        assert markup not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path
        assert set(re.findall(r"<script[^>]*>", page)) <= OWN_SCRIPTS, path
