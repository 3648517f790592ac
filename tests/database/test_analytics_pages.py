"""The inbox's analytics pages: campaign results and flow funnels, charted in inline SVG."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.accounts.agents import create_agent
from bot.app import services_of
from bot.domain.vocabulary import MessageStatus
from bot.settings import Settings
from tests.database.test_campaign_stats import HOUR, SPRING_SALE, T0, Store
from tests.support.harness import API_KEY, make_settings
from tests.support.inbox import PASSWORD, login
from tests.support.passwords import hash_once
from tests.support.sms import ALICE, BOB, reply_to

QUIZ = """\
flow: quiz
description: A one-question quiz.
triggers:
  keywords: [QUIZ]
steps:
  - id: "<b>bold</b>"
    ask: "Acme: Pick 1 or 2. Reply STOP to opt out."
    expect: choice
    options: [One, Two]
  - id: thanks
    send: "Thanks!"
  - end: true
"""
# Steps without ids, a choice and a free-text question: what the flow page names and charts.
TASTING = """\
flow: tasting
triggers:
  keywords: [TASTE]
steps:
  - send: "Welcome to the Acme tasting, glad you are here"
  - id: pick
    ask: "Which wine did you like best?"
    expect: choice
    options: [Red, White, Rosé]
  - id: why
    ask: "What did you like about it?"
    expect: text
  - set:
      add_tags: [tasted]
  - end: "Cheers!"
"""
BOLD = "<b>bold</b>"
ESCAPED = "&lt;b&gt;bold&lt;/b&gt;"


@pytest.fixture
def settings(database_url: str, flows_dir: Path) -> Settings:
    """The shared `app` runs a sale and a quiz, with a segment's price."""
    (flows_dir / "campaigns").mkdir()
    (flows_dir / "campaigns" / "spring_sale.yaml").write_text(SPRING_SALE)
    (flows_dir / "quiz.yaml").write_text(QUIZ)
    (flows_dir / "tasting.yaml").write_text(TASTING)
    return make_settings(database_url, FLOWS_DIR=flows_dir, PRICE_PER_SEGMENT=0.01)


@pytest.fixture
def app(app: Flask) -> Flask:
    """The shared app with an agent to log in as."""
    services = services_of(app)
    create_agent(
        services.db,
        "dana@acme.test",
        "Dana",
        PASSWORD,
        now=services.conversations.clock(),
        hasher=hash_once,
    )
    return app


@pytest.fixture
def agent(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert login(client, "dana@acme.test", PASSWORD).status_code == 302
    return client


@pytest.fixture
def seeded(app: Flask) -> None:
    """spring_sale: early to three people (one clicks and orders), late to two, and a stray
    variant named like markup; the quiz: ALICE answers, BOB stays on the question."""
    store = Store(services_of(app).db)
    for phone in ("+14155550101", "+14155550102", "+14155550103"):
        store.text(phone, at=T0, campaign="spring_sale", variant="early")
    for phone in ("+14155550201", "+14155550202"):
        store.text(phone, at=T0, campaign="spring_sale", variant="late")
    store.text("+14155550301", at=T0, campaign="spring_sale", variant=BOLD)
    store.click("+14155550101", campaign="spring_sale", at=T0 + HOUR)
    store.event("+14155550101", at=T0 + 2 * HOUR, data={"amount": 42.5})
    client = app.test_client()
    reply_to(client, "QUIZ", phone=ALICE)
    reply_to(client, "1", phone=ALICE)
    reply_to(client, "QUIZ", phone=BOB)


PAGES = ["/inbox/campaigns", "/inbox/campaigns/spring_sale", "/inbox/flows", "/inbox/flows/quiz"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_need_a_logged_in_agent(app: Flask, path: str) -> None:
    response = app.test_client().get(path)
    assert response.status_code == 302
    assert response.location.startswith("/inbox/login?next=/inbox/")


@pytest.mark.parametrize("path", PAGES)
def test_pages_carry_the_inbox_security_headers_and_navigation(
    agent: FlaskClient, path: str
) -> None:
    response = agent.get(path)
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    page = response.get_data(as_text=True)
    assert 'href="/inbox/campaigns"' in page and 'href="/inbox/flows"' in page
    assert "Dana" in page


def test_campaign_list_shows_totals(agent: FlaskClient, seeded: None) -> None:
    page = agent.get("/inbox/campaigns").get_data(as_text=True)
    assert 'href="/inbox/campaigns/spring_sale"' in page
    row = page.split("spring_sale</a>", 1)[1].split("</tr>", 1)[0]
    assert [cell.split("</td>")[0] for cell in row.split("<td>")[1:]] == [
        "6",
        "1",
        "1",
        "42.50 USD",
    ]


def test_campaign_list_shows_a_campaign_known_only_from_its_texts(
    app: Flask, agent: FlaskClient
) -> None:
    Store(services_of(app).db).text("+14155550401", at=T0, campaign="old_promo")
    page = agent.get("/inbox/campaigns").get_data(as_text=True)
    assert 'href="/inbox/campaigns/old_promo"' in page  # no file defines it any more
    assert 'href="/inbox/campaigns/spring_sale"' in page  # and the file's, with no text yet


def test_campaign_page_shows_variants_chart_and_winner(agent: FlaskClient, seeded: None) -> None:
    response = agent.get("/inbox/campaigns/spring_sale")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<svg" in page and "<title>Conversion and click rate per variant" in page
    assert "<title>early, conversion rate: 33.3%</title>" in page
    assert "<title>early, click rate: 33.3%</title>" in page
    assert "<title>late, conversion rate: 0.0%</title>" in page
    assert "42.50 USD" in page
    # With so few texts there is no p-value yet: no winner is named, only who leads.
    assert "Winner:" not in page
    assert "No winner yet (<strong>early</strong> leads)" in page
    assert "too few sends to compare" in page
    assert BOLD not in page and ESCAPED in page


def test_a_never_sent_campaign_names_no_winner(agent: FlaskClient) -> None:
    page = agent.get("/inbox/campaigns/spring_sale").get_data(as_text=True)
    assert "Winner:" not in page and "leads" not in page
    assert "No winner yet:" in page and "too few sends to compare" in page


def test_campaign_page_says_how_many_texts_wait_on_the_provider(
    app: Flask, agent: FlaskClient, seeded: None
) -> None:
    assert "waiting on the provider" not in agent.get("/inbox/campaigns/spring_sale").get_data(
        as_text=True
    )
    store = Store(services_of(app).db)
    for phone in ("+14155550401", "+14155550402"):
        store.text(
            phone,
            at=T0,
            campaign="spring_sale",
            variant="late",
            status=MessageStatus.PENDING,
            handed_over=False,
            retrying_since=T0,
        )
    page = " ".join(agent.get("/inbox/campaigns/spring_sale").get_data(as_text=True).split())
    assert "2 of its texts are waiting on the provider" in page


def test_campaign_winner_shows_its_p_value(app: Flask, agent: FlaskClient) -> None:
    store = Store(services_of(app).db)
    for index in range(40):
        for variant in ("early", "late"):
            phone = f"+1415555{variant == 'late':d}{index:03d}"
            store.text(phone, at=T0, campaign="spring_sale", variant=variant)
            if variant == "early" and index < 10:
                store.event(phone, at=T0 + HOUR, data={"amount": 10})
    page = agent.get("/inbox/campaigns/spring_sale").get_data(as_text=True)
    assert "Winner: <strong>early</strong> (p = 0.0007, significant)" in page


def test_flow_pages_show_the_funnel(agent: FlaskClient, seeded: None) -> None:
    listing = agent.get("/inbox/flows").get_data(as_text=True)
    assert 'href="/inbox/flows/quiz"' in listing
    response = agent.get("/inbox/flows/quiz")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<svg" in page
    assert f"<title>{ESCAPED}: 2 reached, 0 dropped out</title>" in page
    assert "<title>thanks: 1 reached, 0 dropped out</title>" in page
    assert BOLD not in page


@pytest.mark.parametrize(
    "path",
    ["/inbox/campaigns/no_such_campaign", "/inbox/flows/no_such_flow", "/inbox/flows/%3Cb%3E"],
)
def test_unknown_names_are_a_404_page(agent: FlaskClient, path: str) -> None:
    response = agent.get(path)
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "Not Found" in page and "Back to the inbox" in page
    assert "<b>" not in page


def test_flow_page_charts_each_questions_answers_under_its_wording(
    app: Flask, agent: FlaskClient
) -> None:
    client = app.test_client()
    for phone, choice, why in ((ALICE, "1", "Fruity"), (BOB, "red", "Smooth")):
        reply_to(client, "TASTE", phone=phone)
        reply_to(client, choice, phone=phone)
        reply_to(client, why, phone=phone)
    reply_to(client, "TASTE", phone="+14155550199")
    reply_to(client, "White", phone="+14155550199")

    page = agent.get("/inbox/flows/tasting").get_data(as_text=True)

    # Steps without an id are named by what they do, in the order of the flow.
    labels = ["send: Welcome to the Acme tasting…", "pick", "why", "set +tasted", "end: Cheers!"]
    places = [page.index(f"<td>{label}</td>") for label in labels]
    assert places == sorted(places)
    assert "<title>send: Welcome to the Acme tasting…: 3 reached, 0 dropped out</title>" in page
    assert "step1" not in page
    # Each question under its wording, a choice as a chart of its answers, free text listed.
    assert "<h3>Which wine did you like best?</h3>" in page
    assert "<title>Answers to Which wine did you like best?</title>" in page
    assert "<title>Red, answers: 2</title>" in page
    assert "<title>White, answers: 1</title>" in page
    assert "<h3>What did you like about it?</h3>" in page
    assert "<li>Fruity</li>" in page and "<li>Smooth</li>" in page


def test_flow_results_api_keys_answers_by_question(app: Flask) -> None:
    client = app.test_client()
    reply_to(client, "TASTE", phone=ALICE)
    reply_to(client, "2", phone=ALICE)
    auth = {"Authorization": f"Bearer {API_KEY}"}
    results = client.get("/api/flows/tasting/results", headers=auth).get_json()
    assert results["steps"][0]["label"] == "send: Welcome to the Acme tasting…"
    assert results["questions"] == [
        {
            "step": "pick",
            "question": "Which wine did you like best?",
            "save_as": "pick",
            "expect": "choice",
            "answers": {"White": 1},
        },
        {
            "step": "why",
            "question": "What did you like about it?",
            "save_as": "why",
            "expect": "text",
            "answers": [],
        },
    ]
