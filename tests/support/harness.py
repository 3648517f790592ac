"""The one app harness: the real app on a test database, with a fake clock and a fake gateway.

Test files that need more (agents, a customer who already joined, an action server) subclass
`AppHarness` and add only what is theirs, so the wiring cannot drift between copies.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from sqlalchemy import select
from sqlmodel import Session

from bot.app import create_app, services_of
from bot.sending.gateways.fake import FakeGateway
from bot.services import Services
from bot.settings import Settings
from bot.store.models import Conversation
from bot.testing.clock import FakeClock, let_time_pass
from tests.support.passwords import check_once
from tests.support.paths import SHIPPED_FLOWS, SUPPORT
from tests.support.sms import ALICE, reply_to

API_KEY = "test-api-key"
GENEROUS = 30.0  # seconds to wait for something that takes milliseconds
NO_FLOWS = SUPPORT / "no-flows"  # does not exist: tests see flows only when they ask for them


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for tests: no .env file, no environment, a known brand and API key, and a
    sending pace no test waits for (tests of the pace set SEND_RATE)."""
    values: dict[str, object] = {
        "DATABASE_URL": database_url,
        "BRAND_NAME": "Acme",
        "SUPPORT_CONTACT": "help@acme.test",
        "API_KEY": API_KEY,
        "GATEWAY": "console",
        "FLOWS_DIR": NO_FLOWS,
        # The pacer waits on the wall clock, not the test's fake one: at the default of one
        # text a second, tests slept 54 s for real in 10 files (1 s a text after the first).
        "SEND_RATE": 1000,
        **overrides,
    }
    return _GivenSettings(**values)


class _GivenSettings(Settings):
    """Settings from the values a test gives and nothing else: neither the environment nor a
    .env file is read (skipping those sources is also 2 of the 2.5 ms a `Settings` costs)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


class AppHarness:
    """The app over `flows_dir` (the shipped flows unless told), on a fake clock starting at
    `now`; the gateway stamps held texts with that clock when `gateway_on_clock` is set."""

    def __init__(
        self,
        database_url: str,
        *,
        now: datetime,
        flows_dir: Path = SHIPPED_FLOWS,
        gateway_on_clock: bool = False,
        **settings: object,
    ) -> None:
        self.clock = FakeClock(now)
        self.gateway = FakeGateway(clock=self.clock) if gateway_on_clock else FakeGateway()
        self.app: Flask = create_app(
            make_settings(database_url, FLOWS_DIR=flows_dir, **settings),
            gateway=self.gateway,
            clock=self.clock,
            check_password=check_once,
        )
        self.client: FlaskClient = self.app.test_client()
        self.services: Services = services_of(self.app)
        self.db = self.services.db

    def text(self, body: str, phone: str = ALICE) -> list[str]:
        """What the webhook answered to a text from `phone`."""
        return reply_to(self.client, body, phone=phone)

    def settle(self) -> None:
        """Wait until the calls (custom actions, http steps) that web requests handed to the
        action pool have been made and applied."""
        assert self.services.action_pool.wait_idle(GENEROUS), "a call never finished"

    def sent_to(self, phone: str) -> list[str]:
        """The bodies of the texts the gateway sent to `phone`, in order."""
        return [text.body for text in self.gateway.outbox if text.to == phone]

    def let_time_pass(self, duration: timedelta) -> None:
        """Move the fake clock on, firing the timers and sends that came due meanwhile."""
        let_time_pass(self.services, self.clock, duration)

    def rows(self, model: type) -> list[Any]:
        """Every row of `model`'s table, oldest first."""
        with Session(self.db) as session:
            return list(session.scalars(select(model).order_by(model.id)))  # type: ignore[attr-defined]

    def conversation(self, conversation_id: int) -> Conversation:
        with Session(self.db) as session:
            row = session.get(Conversation, conversation_id)
            assert row is not None
            return row

    def dispose(self) -> None:
        self.services.close()
