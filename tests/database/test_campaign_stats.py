"""Campaign results on both databases: sends, clicks, replies, opt-outs, attributed orders, A/B."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine

from bot.app import services_of
from bot.campaigns.conversions import Attribution, attributions, order_amount
from bot.campaigns.stats import VariantStats, pick_winner, two_proportion_z_test
from bot.domain.vocabulary import ConsentKind, Direction, MessageStatus, SubscriberStatus
from bot.settings import Settings
from bot.store.db import transaction
from bot.store.models import Click, ConsentEvent, Event, Link, Message, Subscriber
from tests.support.harness import API_KEY, make_settings

_COLUMNS = Message.__table__.c  # type: ignore[attr-defined]
needs_campaign_columns = pytest.mark.skipif(
    "campaign" not in _COLUMNS or "variant" not in _COLUMNS,
    reason="Message.campaign and Message.variant come with migration 0006 (campaign sending)",
)

T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # when the campaign went out
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
AUTH = {"Authorization": f"Bearer {API_KEY}"}
_CODES = itertools.count(1)  # link codes: unique within a test run

A1, A2, A3, A4 = "+14155550101", "+14155550102", "+14155550103", "+14155550104"
A5, A6 = "+14155550105", "+14155550106"
B1, B2, B3 = "+14155550201", "+14155550202", "+14155550203"

WINTER_SALE = """\
campaign: winter_sale
segment: {tags: [vip]}
variants:
  - {name: a, weight: 50, text: "{brand}: boots 20% off! Reply STOP to opt out."}
  - {name: b, weight: 50, text: "{brand}: boots for you, 20% off. Reply STOP to opt out."}
"""
SPRING_SALE = """\
campaign: spring_sale
variants:
  - {name: early, weight: 1, text: "{brand}: spring is here. Reply STOP to opt out."}
  - {name: late, weight: 1, text: "{brand}: spring is nearly over. Reply STOP to opt out."}
"""


# --- the two-proportion z-test and the winner: plain numbers -----------------------------------


def test_z_test_matches_the_hand_computed_value() -> None:
    # 30/200 against 18/200: pooled rate 48/400 = 0.12, standard error
    # sqrt(0.12 × 0.88 × (1/200 + 1/200)) = 0.0324962, z = 0.06 / 0.0324962 = 1.846372,
    # two-sided p = 2 × (1 − Φ(1.846372)) = 0.064838.
    z, p_value = two_proportion_z_test(30, 200, 18, 200)
    assert z == pytest.approx(1.846372, abs=1e-6)
    assert p_value == pytest.approx(0.064838, abs=1e-6)
    z, p_value = two_proportion_z_test(18, 200, 30, 200)
    assert z == pytest.approx(-1.846372, abs=1e-6)
    assert p_value == pytest.approx(0.064838, abs=1e-6)


def test_z_test_with_no_difference_possible() -> None:
    assert two_proportion_z_test(0, 50, 0, 80) == (0.0, 1.0)
    with pytest.raises(ValueError, match="at least one trial"):
        two_proportion_z_test(0, 0, 1, 10)


def rows(*numbers: tuple[str, int, int]) -> list[VariantStats]:
    return [VariantStats(name, sent=sent, converted=converted) for name, sent, converted in numbers]


def test_winner_significant() -> None:
    # 40/200 against 18/200: z = 0.11 / sqrt(0.145 × 0.855 × 0.01) = 3.124105, p = 0.001783.
    winner = pick_winner(rows(("a", 200, 18), ("b", 200, 40)))
    assert winner is not None
    assert (winner.variant, winner.against, winner.significant) == ("b", "a", True)
    assert winner.z == pytest.approx(3.124105, abs=1e-6)
    assert winner.p_value == pytest.approx(0.001783, abs=1e-6)
    assert "p = 0.0018 < 0.05" in winner.reason


def test_winner_not_significant() -> None:
    winner = pick_winner(rows(("a", 200, 30), ("b", 200, 18)))
    assert winner is not None
    assert (winner.variant, winner.against, winner.significant) == ("a", "b", False)
    assert winner.p_value == pytest.approx(0.064838, abs=1e-6)
    assert "no significant difference from b" in winner.reason


def test_with_three_variants_the_weakest_comparison_decides() -> None:
    # c beats a clearly (p = 0.0018) but b only weakly (40/200 against 30/200).
    winner = pick_winner(rows(("a", 200, 18), ("b", 200, 30), ("c", 200, 40)))
    assert winner is not None
    assert (winner.variant, winner.against, winner.significant) == ("c", "b", False)
    assert winner.p_value == pytest.approx(two_proportion_z_test(40, 200, 30, 200)[1])


@pytest.mark.parametrize(
    ("variants", "reason"),
    [
        (
            rows(("a", 29, 10), ("b", 500, 10)),
            "too few sends to compare: a sent fewer than 30 texts each",
        ),
        (rows(("a", 100, 2), ("b", 100, 2)), "too few conversions to compare: 4 (at least 5)"),
    ],
)
def test_too_little_data_says_so(variants: list[VariantStats], reason: str) -> None:
    winner = pick_winner(variants)
    assert winner is not None
    assert winner.reason == reason
    assert (winner.variant, winner.p_value, winner.significant) == (None, None, False)


def test_one_variant_has_no_winner() -> None:
    assert pick_winner(rows(("a", 1000, 50))) is None


@pytest.mark.parametrize(
    ("data", "amount"),
    [
        ({"amount": 20}, Decimal("20")),
        ({"amount": 15.5}, Decimal("15.5")),
        ({"amount": " 15.50 "}, Decimal("15.50")),
        ({"amount": 0}, Decimal("0")),
        ({"amount": -3}, None),
        ({"amount": "lots"}, None),
        ({"amount": True}, None),
        ({"amount": float("nan")}, None),
        ({"amount": None}, None),
        ({}, None),
        ([], None),
    ],
)
def test_order_amount(data: Any, amount: Decimal | None) -> None:
    assert order_amount(data) == amount


# --- the store: both databases ----------------------------------------------------------------


@pytest.fixture
def flows_dir(flows_dir: Path) -> Path:
    """The shared flows folder with the winter and spring sales."""
    folder = flows_dir
    (folder / "campaigns").mkdir()
    (folder / "campaigns" / "winter_sale.yaml").write_text(WINTER_SALE)
    (folder / "campaigns" / "spring_sale.yaml").write_text(SPRING_SALE)
    return folder


@pytest.fixture
def settings(database_url: str, flows_dir: Path) -> Settings:
    """The shared `app` and `client` fixtures run on these: the sales, and a segment's price."""
    return make_settings(database_url, FLOWS_DIR=flows_dir, PRICE_PER_SEGMENT=0.01)


@pytest.fixture
def db(app: Flask) -> Engine:
    """The app's own db, so a test reads what the app wrote through the same pool."""
    return services_of(app).db


class Store:
    """Rows as the rest of Parley would have written them."""

    def __init__(self, db: Engine) -> None:
        self.db = db

    def text(
        self,
        phone: str,
        *,
        at: datetime,
        campaign: str | None = None,
        variant: str | None = None,
        status: MessageStatus = MessageStatus.DELIVERED,
        segments: int = 1,
        handed_over: bool = True,
        retrying_since: datetime | None = None,
    ) -> int:
        """An outbound text (a campaign's when `campaign` is given)."""
        return self._message(
            phone,
            direction=Direction.OUTBOUND,
            at=at,
            status=status,
            segments=segments,
            campaign=campaign,
            variant=variant,
            sent_at=at if handed_over else None,
            retrying_since=retrying_since,
        )

    def reply(self, phone: str, *, at: datetime) -> int:
        """A text from the person."""
        return self._message(
            phone, direction=Direction.INBOUND, at=at, status=MessageStatus.RECEIVED
        )

    def click(
        self, phone: str, *, campaign: str, at: datetime, url: str = "https://a.example"
    ) -> None:
        """The person follows their tracked link of a campaign."""
        with transaction(self.db) as connection:
            links = Link.__table__  # type: ignore[attr-defined]
            link_id = connection.execute(
                links.insert().returning(links.c.id),
                {
                    "code": f"{next(_CODES):07d}",
                    "url": url,
                    "phone": phone,
                    "campaign": campaign,
                    "created_at": at - HOUR,
                },
            ).scalar_one()
            connection.execute(
                Click.__table__.insert(),  # type: ignore[attr-defined]
                {"link_id": link_id, "clicked_at": at},
            )

    def again(self, phone: str, *, campaign: str, at: datetime) -> None:
        """Another click on the person's existing link."""
        links = Link.__table__  # type: ignore[attr-defined]
        with transaction(self.db) as connection:
            link_id = connection.execute(
                links.select()
                .with_only_columns(links.c.id)
                .where(links.c.phone == phone, links.c.campaign == campaign)
            ).scalar_one()
            connection.execute(
                Click.__table__.insert(),  # type: ignore[attr-defined]
                {"link_id": link_id, "clicked_at": at},
            )

    def opt_out(self, phone: str, *, at: datetime) -> None:
        """The person's STOP, in the consent ledger."""
        subscribers = Subscriber.__table__  # type: ignore[attr-defined]
        with transaction(self.db) as connection:
            subscriber_id = connection.execute(
                subscribers.insert().returning(subscribers.c.id),
                {
                    "phone": phone,
                    "status": SubscriberStatus.UNSUBSCRIBED,
                    "attributes": {},
                    "tags": [],
                    "created_at": at - 30 * DAY,
                    "updated_at": at,
                },
            ).scalar_one()
            connection.execute(
                ConsentEvent.__table__.insert(),  # type: ignore[attr-defined]
                {
                    "subscriber_id": subscriber_id,
                    "phone": phone,
                    "kind": ConsentKind.OPT_OUT,
                    "source": "sms",
                    "keyword": "STOP",
                    "created_at": at,
                },
            )

    def event(
        self, phone: str, *, at: datetime, data: dict[str, Any], kind: str = "order_placed"
    ) -> int:
        """Something the shop reported."""
        events = Event.__table__  # type: ignore[attr-defined]
        with transaction(self.db) as connection:
            return connection.execute(
                events.insert().returning(events.c.id),
                {"type": kind, "phone": phone, "data": data, "received_at": at},
            ).scalar_one()

    def _message(self, phone: str, *, at: datetime, **values: Any) -> int:
        messages = Message.__table__  # type: ignore[attr-defined]
        with transaction(self.db) as connection:
            return connection.execute(
                messages.insert().returning(messages.c.id),
                {
                    "phone": phone,
                    "body": "…",
                    "media_urls": [],
                    "encoding": "GSM-7",
                    "attempts": 0,
                    "created_at": at,
                    "updated_at": at,
                    "segments": 1,
                    **values,
                },
            ).scalar_one()


@pytest.fixture
def store(db: Engine) -> Store:
    return Store(db)


@pytest.fixture
def seeded(store: Store) -> dict[str, int]:
    """winter_sale to seven people, what they did afterwards; the ids of the shop's orders."""
    # Variant a: three texts handed over (one still in flight), one refused at hand-over.
    store.text(A1, at=T0, campaign="winter_sale", variant="a")
    store.text(A2, at=T0, campaign="winter_sale", variant="a", segments=2)
    store.text(A3, at=T0, campaign="winter_sale", variant="a", status=MessageStatus.SENT)
    store.text(
        A4,
        at=T0,
        campaign="winter_sale",
        variant="a",
        status=MessageStatus.FAILED,
        handed_over=False,
    )
    # Still in the outbox: one because the provider failed it (an outage), one not yet due.
    store.text(
        A5,
        at=T0,
        campaign="winter_sale",
        variant="a",
        status=MessageStatus.PENDING,
        handed_over=False,
        retrying_since=T0 + HOUR,
    )
    store.text(
        A6,
        at=T0,
        campaign="winter_sale",
        variant="a",
        status=MessageStatus.PENDING,
        handed_over=False,
    )
    # Variant b: three handed over, one of them undelivered.
    store.text(B1, at=T0, campaign="winter_sale", variant="b")
    store.text(B2, at=T0, campaign="winter_sale", variant="b")
    store.text(
        B3, at=T0, campaign="winter_sale", variant="b", status=MessageStatus.UNDELIVERED, segments=3
    )
    # Texts that are not winter_sale's.
    store.text(A1, at=T0 + 2 * DAY, campaign="other", variant="x", segments=4)
    store.text(A2, at=T0 - DAY, campaign="other", variant="y")
    store.text(B1, at=T0 + HOUR)  # a flow's text

    # Clicks: A1 twice (one person), B1 once; A2 only clicks the other campaign's link.
    store.click(A1, campaign="winter_sale", at=T0 + HOUR)
    store.again(A1, campaign="winter_sale", at=T0 + 2 * HOUR)
    store.click(B1, campaign="winter_sale", at=T0 + DAY)
    store.click(A2, campaign="other", at=T0 - 12 * HOUR)

    # Replies within 7 days count once a person; before the campaign or after 7 days, not at all.
    store.reply(A1, at=T0 + DAY)
    store.reply(A1, at=T0 + 2 * DAY)
    store.reply(A3, at=T0 + 8 * DAY)
    store.reply(B2, at=T0 - HOUR)
    store.reply(B1, at=T0 + 6 * DAY)

    # Opt-outs: A3 within the window, B2 after it.
    store.opt_out(A3, at=T0 + 2 * DAY)
    store.opt_out(B2, at=T0 + 10 * DAY)

    # Orders.
    return {
        # A1 clicked winter_sale, then got (but did not click) other: the click wins.
        "a1_first": store.event(A1, at=T0 + 3 * DAY, data={"amount": 20}),
        "a1_second": store.event(A1, at=T0 + 4 * DAY, data={"amount": "15.50"}),
        # A2's last text was winter_sale's, but they clicked other's link: other gets it.
        "a2": store.event(A2, at=T0 + DAY, data={"amount": 12}),
        # B2 never clicked: their winter_sale text 5 days before gets it; 9 days after, nothing.
        "b2": store.event(B2, at=T0 + 5 * DAY, data={"amount": 30}),
        "b2_late": store.event(B2, at=T0 + 9 * DAY, data={"amount": 40}),
        # No amount, or not an order: never attributed.
        "b1_no_amount": store.event(B1, at=T0 + 2 * DAY, data={"items": 3}),
        "a3_cart": store.event(A3, at=T0 + 2 * DAY, data={"amount": 99}, kind="cart_abandoned"),
        "b1": store.event(B1, at=T0 + 6 * DAY, data={"amount": 10.25}),
    }


@needs_campaign_columns
def test_attributions(db: Engine, seeded: dict[str, int]) -> None:
    with db.connect() as connection:
        found = attributions(connection)
        assert found == [
            Attribution(seeded["a2"], A2, "other", "y", Decimal(12), "click"),
            Attribution(seeded["a1_first"], A1, "winter_sale", "a", Decimal(20), "click"),
            Attribution(seeded["a1_second"], A1, "winter_sale", "a", Decimal("15.50"), "click"),
            Attribution(seeded["b2"], B2, "winter_sale", "b", Decimal(30), "receipt"),
            Attribution(seeded["b1"], B1, "winter_sale", "b", Decimal("10.25"), "click"),
        ]
        since = attributions(connection, since=T0 + 4 * DAY)
        assert [credit.event_id for credit in since] == [
            seeded["a1_second"],
            seeded["b2"],
            seeded["b1"],
        ]
        # A longer window reaches B2's late order too.
        late = attributions(connection, since=T0 + 9 * DAY, days=10)
        assert late == [
            Attribution(seeded["b2_late"], B2, "winter_sale", "b", Decimal(40), "receipt")
        ]


@needs_campaign_columns
def test_attribution_windows(db: Engine, store: Store) -> None:
    carol, dave, erin = "+14155550301", "+14155550302", "+14155550303"
    # Carol clicked an old campaign long ago; her recent text wins by receipt.
    store.text(carol, at=T0 - 10 * DAY, campaign="old", variant="a")
    store.click(carol, campaign="old", at=T0 - 9 * DAY)
    store.text(carol, at=T0, campaign="winter_sale", variant="b")
    carol_order = store.event(carol, at=T0 + DAY, data={"amount": 5})
    # Dave's click and text are both a little more than 7 days before his order.
    store.text(dave, at=T0, campaign="winter_sale", variant="a")
    store.click(dave, campaign="winter_sale", at=T0 + HOUR)
    dave_order = store.event(dave, at=T0 + 7 * DAY + 2 * HOUR, data={"amount": 7})
    # Erin's click (inside the window) beats her later text from another campaign.
    store.text(erin, at=T0 - 3 * DAY, campaign="old", variant="b")
    store.click(erin, campaign="old", at=T0 - 2 * DAY)
    store.text(erin, at=T0, campaign="winter_sale", variant="a")
    erin_order = store.event(erin, at=T0 + DAY, data={"amount": 9})
    with db.connect() as connection:
        assert attributions(connection) == [
            Attribution(carol_order, carol, "winter_sale", "b", Decimal(5), "receipt"),
            Attribution(erin_order, erin, "old", "b", Decimal(9), "click"),
        ]
        eight_days = attributions(connection, days=8)
        assert Attribution(dave_order, dave, "winter_sale", "a", Decimal(7), "click") in eight_days


EXPECTED_A = {
    "variant": "a",
    "sent": 3,
    "delivered": 2,
    "failed": 1,
    "clicked": 1,
    "replied": 1,
    "opted_out": 1,
    "converted": 1,
    "revenue": 35.5,
    "segments": 4,
    "cost": 0.04,
    "conversion_rate": 0.333333,
    "waiting_on_provider": 1,
    "mms": 0,
}
EXPECTED_B = {
    "variant": "b",
    "sent": 3,
    "delivered": 2,
    "failed": 1,
    "clicked": 1,
    "replied": 1,
    "opted_out": 0,
    "converted": 2,
    "revenue": 40.25,
    "segments": 5,
    "cost": 0.05,
    "conversion_rate": 0.666667,
    "waiting_on_provider": 0,
    "mms": 0,
}
EXPECTED_TOTALS = {
    "variant": None,
    "sent": 6,
    "delivered": 4,
    "failed": 2,
    "clicked": 2,
    "replied": 2,
    "opted_out": 1,
    "converted": 3,
    "revenue": 75.75,
    "segments": 9,
    "cost": 0.09,
    "conversion_rate": 0.5,
    "waiting_on_provider": 1,
    "mms": 0,
}


@needs_campaign_columns
def test_stats_api(client: FlaskClient, seeded: dict[str, int]) -> None:
    response = client.get("/api/campaigns/winter_sale/stats", headers=AUTH)
    assert response.status_code == 200
    assert response.get_json() == {
        "campaign": "winter_sale",
        "currency": "USD",
        "price_per_segment": 0.01,
        "price_per_mms": 0.02,
        "response_days": 7.0,
        "attribution_days": 7.0,
        "totals": EXPECTED_TOTALS,
        "variants": [EXPECTED_A, EXPECTED_B],
        # Too few texts to tell: no winner is named, only who leads.
        "winner": {
            "variant": None,
            "leading": "b",
            "against": None,
            "z": None,
            "p_value": None,
            "significant": False,
            "reason": "too few sends to compare: a, b sent fewer than 30 texts each",
        },
        "test": None,
    }


@needs_campaign_columns
def test_stats_csv(client: FlaskClient, seeded: dict[str, int]) -> None:
    response = client.get("/api/campaigns/winter_sale/stats.csv", headers=AUTH)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert 'filename="winter_sale-stats.csv"' in response.headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert table == [
        {name: "" if value is None else str(value) for name, value in expected.items()}
        for expected in (EXPECTED_A, EXPECTED_B)
    ]


@needs_campaign_columns
def test_a_campaign_file_with_no_texts_yet(client: FlaskClient) -> None:
    body = client.get("/api/campaigns/spring_sale/stats", headers=AUTH).get_json()
    assert [row["variant"] for row in body["variants"]] == ["early", "late"]
    assert all(row["sent"] == 0 and row["revenue"] == 0 for row in body["variants"])
    assert body["totals"]["sent"] == 0
    assert body["winner"]["reason"].startswith("too few sends")
    assert (body["winner"]["variant"], body["winner"]["leading"]) == (None, None)


@needs_campaign_columns
def test_a_campaign_with_texts_but_no_file(client: FlaskClient, seeded: dict[str, int]) -> None:
    body = client.get("/api/campaigns/other/stats", headers=AUTH).get_json()
    assert [(row["variant"], row["sent"], row["converted"]) for row in body["variants"]] == [
        ("x", 1, 0),
        ("y", 1, 1),
    ]
    assert body["totals"]["revenue"] == 12
    assert body["totals"]["cost"] == 0.05


@needs_campaign_columns
@pytest.mark.parametrize("suffix", ["stats", "stats.csv"])
def test_unknown_campaign_is_404(client: FlaskClient, suffix: str) -> None:
    response = client.get(f"/api/campaigns/nope/{suffix}", headers=AUTH)
    assert response.status_code == 404
    assert response.get_json() == {
        "error": "no campaign named 'nope': no campaign file and no texts sent"
    }


@pytest.mark.parametrize("suffix", ["stats", "stats.csv"])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_stats_need_the_api_key(client: FlaskClient, suffix: str, headers: dict[str, str]) -> None:
    response = client.get(f"/api/campaigns/winter_sale/{suffix}", headers=headers)
    assert response.status_code == 401


@needs_campaign_columns
def test_stats_csv_cells_a_spreadsheet_would_run_are_inert(
    client: FlaskClient, store: Store
) -> None:
    store.text(A1, at=T0, campaign="other", variant="=1+2")
    store.text(A2, at=T0, campaign="other", variant="-3")
    response = client.get("/api/campaigns/other/stats.csv", headers=AUTH)
    table = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert sorted(row["variant"] for row in table) == ["'=1+2", "-3"]
