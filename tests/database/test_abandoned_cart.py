"""The issue's story: the shipped cart flow, driven by POST /api/events, under a fake clock.

Three reminders at the right times; an order or a STOP ends them; a reminder that would land in
the recipient's quiet hours waits for 08:00 their time. Times are for a San Francisco number.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from bot.store.models import Message
from tests.support.harness import API_KEY, AppHarness
from tests.support.sms import ALICE, reply_to

PACIFIC = ZoneInfo("America/Los_Angeles")
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=PACIFIC)


class Shop(AppHarness):
    """The app, a subscribed customer, a fake clock, and a log of when each text went out."""

    def __init__(self, database_url: str, start: datetime) -> None:
        super().__init__(database_url, now=start.astimezone(UTC))
        reply_to(self.client, "JOIN")
        reply_to(self.client, "Y")  # the welcome series starts; a cart event will interrupt it

    def event(self, event_type: str, **data: object) -> None:
        body = {"type": event_type, "phone": ALICE, "data": data}
        response = self.client.post("/api/events", json=body, headers=AUTH)
        assert response.status_code == 202, response.json
        self.let_time_pass(timedelta(0))

    @property
    def sent(self) -> list[tuple[datetime, str]]:
        """The cart flow's texts that reached the gateway, with when they went, local time."""
        with Session(self.services.db) as session:
            rows = session.scalars(
                select(Message)
                .where(Message.flow == "abandoned_cart", Message.sent_at.is_not(None))
                .order_by(Message.sent_at, Message.id)
            ).all()
        return [(row.sent_at.astimezone(PACIFIC), row.body) for row in rows]

    def times(self) -> list[datetime]:
        return [moment for moment, _ in self.sent]


@pytest.fixture
def daytime(database_url: str) -> Shop:
    return Shop(database_url, local(5, 10))


def test_three_reminders_at_the_right_times(daytime: Shop) -> None:
    daytime.event("cart_abandoned", cart_url="https://shop.example/c/42")
    daytime.let_time_pass(timedelta(days=2))
    assert daytime.times() == [local(5, 11), local(5, 17), local(6, 10)]
    first, second, last = (body for _, body in daytime.sent)
    assert "https://shop.example/c/42" in first and "Reply STOP to opt out" in first
    assert "Still thinking it over?" in second
    assert "Last call! SAVE-" in last and "https://shop.example/c/42" in last


def test_an_order_stops_the_reminders(daytime: Shop) -> None:
    daytime.event("cart_abandoned")
    daytime.let_time_pass(timedelta(hours=2))
    daytime.event("order_placed", amount=42.5)
    daytime.let_time_pass(timedelta(days=2))
    assert daytime.times() == [local(5, 11)]


def test_stop_stops_the_reminders(daytime: Shop) -> None:
    daytime.event("cart_abandoned")
    daytime.let_time_pass(timedelta(hours=2))
    assert "unsubscribed" in reply_to(daytime.client, "STOP")[0]
    daytime.let_time_pass(timedelta(days=2))
    assert daytime.times() == [local(5, 11)]


def test_a_reminder_due_at_night_waits_for_eight_in_the_morning(database_url: str) -> None:
    evening = Shop(database_url, local(5, 20, 30))
    evening.event("cart_abandoned")
    evening.let_time_pass(timedelta(days=2))
    # Due 21:30 (quiet) and 03:30 (quiet): both wait for 08:00; the last is due 20:30 next day.
    assert evening.times() == [local(6, 8), local(6, 8), local(6, 20, 30)]
