"""The agents' reports (/inbox/reports) and the rating asked on hand-back, on a fake clock.

Chats are seeded through the real inbox at known minutes, so every median, average and count
the page and its CSV files show is worked out by hand below.
"""

from __future__ import annotations

import csv
import html
import io
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from bot.store.models import Conversation, Message, Subscriber, UnansweredText
from tests.support.inbox import Inbox, post
from tests.support.sms import ALICE, BOB

CAROL = "+14155550102"
DAVE = "+14155550103"
DAY = "from=2026-01-05&to=2026-01-06"  # the seeded day, and the one after it
RATING_QUESTION = "Acme: How did we do? Reply 1-5 (5 = great)."


class Desk(Inbox):
    """The inbox, its agents logging in afresh for each step (hours pass on the fake clock,
    longer than a session lives idle)."""

    @property
    def as_dana(self) -> FlaskClient:
        return self.logged_in("dana@acme.test")

    @property
    def as_eli(self) -> FlaskClient:
        return self.logged_in("eli@acme.test")

    def minutes(self, count: float) -> None:
        """Let `count` minutes pass (texts due meanwhile are sent)."""
        self.let_time_pass(timedelta(minutes=count))

    def hand_off(self, phone: str) -> int:
        """The person rates an order 1 and asks for a human: their chat joins the queue."""
        for body in ("FEEDBACK", "1", "The box was crushed", "yes please"):
            self.text(body, phone)
        return self.chat_of(phone)

    def chat_of(self, phone: str) -> int:
        with self.db.connect() as connection:
            return connection.execute(
                select(Conversation.__table__.c.id)  # type: ignore[attr-defined]
                .where(Conversation.__table__.c.phone == phone)  # type: ignore[attr-defined]
                .order_by(Conversation.__table__.c.id.desc())  # type: ignore[attr-defined]
                .limit(1)
            ).scalar_one()

    def queued_text(self, phone: str) -> int:
        return max(row.id for row in self.rows(UnansweredText) if row.phone == phone)


def done(response: TestResponse) -> TestResponse:
    """The inbox took the form (it answers with the next page, never the login)."""
    assert response.status_code == 302, response.get_data(as_text=True)
    assert "/login" not in response.headers["Location"]
    return response


def take(agent: FlaskClient, chat: int) -> None:
    done(post(agent, f"/inbox/conversations/{chat}/take"))


def reply(agent: FlaskClient, chat: int, body: str = "Sorry, a new box is on its way.") -> None:
    done(post(agent, f"/inbox/conversations/{chat}/reply", body=body))


def hand_back(agent: FlaskClient, chat: int, *, ask_rating: bool = True) -> None:
    form = {"ask_rating": "yes"} if ask_rating else {}
    done(post(agent, f"/inbox/conversations/{chat}/hand-back", **form))


@pytest.fixture
def desk(database_url: str) -> Desk:
    return Desk(database_url)


@pytest.fixture
def seeded(desk: Desk) -> Desk:
    """Three chats on 2026-01-05 (from 20:00 UTC, noon in SF), and one nobody answered.

    | who   | agent | queued | first reply | handed back | rating |
    | Alice | Dana  | +0     | +10         | +30         | 5      |
    | Bob   | Dana  | +30    | +50         | +90         | 3      |
    | Carol | Eli   | +90    | +130        | +150        | 4      |
    | Dave  | -     | +160   | -           | -           | -      |
    """
    alice = desk.hand_off(ALICE)
    desk.minutes(4)
    take(desk.as_dana, alice)
    desk.minutes(6)
    reply(desk.as_dana, alice)  # +10
    desk.minutes(20)
    hand_back(desk.as_dana, alice)  # +30
    desk.text("I still have no parcel, where is it?", BOB)  # +30: nothing takes it
    desk.minutes(1)
    desk.text("5", ALICE)  # Alice rates Dana
    desk.minutes(19)
    chat = done(post(desk.as_dana, f"/inbox/texts/{desk.queued_text(BOB)}/take"))
    bob = int(chat.headers["Location"].rsplit("/", 1)[1])
    reply(desk.as_dana, bob)  # +50
    desk.minutes(40)
    hand_back(desk.as_dana, bob)  # +90
    carol = desk.hand_off(CAROL)  # +90
    desk.minutes(1)
    desk.text("3", BOB)  # Bob rates Dana
    desk.minutes(9)
    take(desk.as_eli, carol)  # +100
    desk.minutes(30)
    reply(desk.as_eli, carol)  # +130
    desk.minutes(20)
    hand_back(desk.as_eli, carol)  # +150
    desk.minutes(1)
    desk.text("4", CAROL)  # Carol rates Eli
    desk.minutes(9)
    desk.text("Can someone call me please?", DAVE)  # +160: waits, nobody comes
    desk.minutes(60)
    return desk


def csv_of(agent: FlaskClient, report: str, query: str = DAY) -> list[dict[str, str]]:
    response = agent.get(f"/inbox/reports/{report}.csv?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def by_agent(rows: list[dict[str, str]], *columns: str) -> dict[str, tuple[str, ...]]:
    return {row["agent"]: tuple(row[column] for column in columns) for row in rows}


def test_first_response_medians_and_averages(seeded: Desk) -> None:
    rows = csv_of(seeded.as_dana, "first-response")
    # Dana answered after 10 and 20 minutes, Eli after 40.
    assert by_agent(rows, "chats", "median_minutes", "average_minutes") == {
        "Dana": ("2", "15.0", "15.0"),
        "Eli": ("1", "40.0", "40.0"),
        "All agents": ("3", "20.0", "23.33"),
    }


def test_resolution_medians_and_averages(seeded: Desk) -> None:
    rows = csv_of(seeded.as_dana, "resolution")
    # Dana handed back after 30 and 60 minutes, Eli after 60.
    assert by_agent(rows, "chats", "median_minutes", "average_minutes") == {
        "Dana": ("2", "45.0", "45.0"),
        "Eli": ("1", "60.0", "60.0"),
        "All agents": ("3", "60.0", "50.0"),
    }


def test_each_rating_counts_for_the_agent_who_held_the_chat(seeded: Desk) -> None:
    rows = csv_of(seeded.as_eli, "csat")
    assert by_agent(rows, "ratings", "average", "rated_3", "rated_4", "rated_5") == {
        "Dana": ("2", "4.0", "1", "0", "1"),
        "Eli": ("1", "4.0", "0", "1", "0"),
        "All agents": ("3", "4.0", "1", "1", "1"),
    }


def test_the_queue_per_day(seeded: Desk) -> None:
    seeded.clock.advance(timedelta(days=2))  # both days are over
    rows = csv_of(seeded.as_dana, "queue")
    assert [(row["day"], row["joined"], row["waiting_at_end"]) for row in rows] == [
        ("2026-01-05", "4", "1"),  # Dave still waits
        ("2026-01-06", "0", "1"),
    ]


def test_a_stop_takes_a_waiting_chat_out_of_the_queue(desk: Desk) -> None:
    desk.hand_off(ALICE)
    desk.hand_off(BOB)
    desk.text("STOP", ALICE)
    desk.clock.advance(timedelta(days=2))
    rows = csv_of(desk.as_dana, "queue")
    assert [(row["day"], row["joined"], row["waiting_at_end"]) for row in rows] == [
        ("2026-01-05", "2", "1"),  # Bob still waits
        ("2026-01-06", "0", "1"),
    ]


def test_one_agents_numbers(seeded: Desk) -> None:
    eli = seeded.eli.id
    rows = csv_of(seeded.as_dana, "first-response", f"{DAY}&agent={eli}")
    assert by_agent(rows, "chats", "median_minutes") == {
        "Eli": ("1", "40.0"),
        "All agents": ("1", "40.0"),
    }


def test_the_page_shows_the_same_numbers_as_charts(seeded: Desk) -> None:
    page = seeded.as_dana.get(f"/inbox/reports?{DAY}").get_data(as_text=True)
    assert "Dana (2), median: 15.0 min" in page
    assert "All agents (3), median: 20.0 min" in page  # first responses
    assert "All agents (3), median: 60.0 min" in page  # resolutions
    assert "Dana (2), average rating: 4.00" in page
    assert "2026-01-05, joined: 4" in page
    assert page.count("<svg") == 4
    assert page.count("Download CSV") == 4


def test_a_range_before_the_chats_shows_nothing(seeded: Desk) -> None:
    rows = csv_of(seeded.as_dana, "first-response", "from=2026-01-01&to=2026-01-04")
    assert by_agent(rows, "chats") == {"All agents": ("0",)}


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("from=2026-13-01", "from: '2026-13-01' is not a date"),
        ("to=yesterday", "to: 'yesterday' is not a date"),
        ("from=2026-01-06&to=2026-01-05", "must not be after to"),
        ("from=2020-01-01&to=2026-01-05", "at most 366 days"),
        ("agent=999", "agent: no agent has the id '999'"),
        ("agent=x", "agent: no agent has the id 'x'"),
        ("from=9999-12-31&to=9999-12-31", "to: '9999-12-31' is not between"),
        ("from=9999-12-30", "from: '9999-12-30' is not between"),
        ("from=0001-01-01&to=0001-01-02", "to: '0001-01-02' is not between"),
        ("to=0001-01-03", "to: '0001-01-03' is not between"),
    ],
)
def test_a_bad_period_is_refused_by_name(desk: Desk, query: str, says: str) -> None:
    for path in ("/inbox/reports", "/inbox/reports/queue.csv"):
        response = desk.as_dana.get(f"{path}?{query}")
        assert response.status_code == 400
        assert says in html.unescape(response.get_data(as_text=True))


def test_a_chat_passed_on_counts_for_the_colleague_who_finished_it(desk: Desk) -> None:
    chat = desk.hand_off(ALICE)
    take(desk.as_dana, chat)
    dana = desk.as_dana
    done(post(dana, f"/inbox/conversations/{chat}/assign", agent_id=str(desk.eli.id)))
    desk.minutes(10)
    reply(desk.as_eli, chat)
    hand_back(desk.as_eli, chat)
    desk.text("5", ALICE)
    assert by_agent(csv_of(dana, "csat"), "ratings", "rated_5") == {
        "Eli": ("1", "1"),
        "All agents": ("1", "1"),
    }
    assert by_agent(csv_of(dana, "first-response"), "chats", "median_minutes") == {
        "Eli": ("1", "10.0"),
        "All agents": ("1", "10.0"),
    }


def test_a_chat_an_agent_starts_is_reported_and_rated(desk: Desk) -> None:
    desk.text("JOIN", ALICE)
    desk.minutes(60)
    dana = desk.as_dana
    alice = next(row.id for row in desk.rows(Subscriber) if row.phone == ALICE)
    started = done(post(dana, f"/inbox/contacts/{alice}/text", body="Hi, about your order"))
    chat = int(started.headers["Location"].rsplit("/", 1)[1])
    desk.minutes(20)
    hand_back(desk.as_dana, chat)
    desk.text("4", ALICE)
    assert by_agent(csv_of(dana, "csat"), "ratings", "average") == {
        "Dana": ("1", "4.0"),
        "All agents": ("1", "4.0"),
    }
    # Nobody queued it, so it has no queue time: resolution and first response skip it.


def test_an_unknown_report_is_a_404(desk: Desk) -> None:
    assert desk.as_dana.get("/inbox/reports/revenue.csv").status_code == 404


def test_reports_need_a_login(desk: Desk) -> None:
    response = desk.new_client().get("/inbox/reports/queue.csv")
    assert response.status_code == 302
    assert "/inbox/login" in response.headers["Location"]


def test_the_rating_is_asked_once_the_chat_is_handed_back(desk: Desk) -> None:
    alice = desk.hand_off(ALICE)
    take(desk.as_dana, alice)
    hand_back(desk.as_dana, alice)
    desk.minutes(0)
    assert desk.sent_to(ALICE)[-2:] == ["Thank you for your feedback!", RATING_QUESTION]


def test_no_rating_when_the_box_is_unticked(desk: Desk) -> None:
    alice = desk.hand_off(ALICE)
    take(desk.as_dana, alice)
    hand_back(desk.as_dana, alice, ask_rating=False)
    desk.minutes(0)
    assert RATING_QUESTION not in desk.sent_to(ALICE)


def test_the_setting_ticks_the_box(database_url: str) -> None:
    desk = Desk(database_url, CSAT_AFTER_HAND_BACK=True)
    alice = desk.hand_off(ALICE)
    take(desk.as_dana, alice)
    page = desk.as_dana.get(f"/inbox/conversations/{alice}").get_data(as_text=True)
    assert 'name="ask_rating" value="yes" checked' in page


def test_the_rating_waits_for_the_morning(database_url: str) -> None:
    # 21:30 in San Francisco: too late to ask anything the person did not just ask for.
    desk = Desk(database_url)
    desk.clock.set(datetime(2026, 1, 6, 5, 30, tzinfo=UTC))
    alice = desk.hand_off(ALICE)
    take(desk.as_dana, alice)
    reply(desk.as_dana, alice)
    hand_back(desk.as_dana, alice)
    desk.minutes(0)
    assert RATING_QUESTION not in desk.sent_to(ALICE)
    [question] = [row for row in desk.rows(Message) if row.body == RATING_QUESTION]
    assert question.status == "pending"
    assert question.send_after is not None and question.send_after.hour >= 13  # 8:00 local or later


def test_no_rating_for_a_number_that_opted_out(desk: Desk) -> None:
    alice = desk.hand_off(ALICE)
    take(desk.as_dana, alice)
    desk.text("STOP", ALICE)
    hand_back(desk.as_dana, alice)
    desk.minutes(0)
    assert not [row for row in desk.rows(Message) if row.body == RATING_QUESTION]
