"""`bot chat`: a terminal phone that texts the real conversation logic, on a scratch database.

Why a scratch database, not the configured one: `/wait 1d` moves the clock, and on a shared
database that fired every subscriber's follow-ups a day early, stored them with future times
and sent them nowhere. The chat copies its own phone's subscriber row (status, name,
attributes, tags) into a fresh SQLite file and plays there: time moves for that phone alone,
and nothing the chat does reaches the service's data, its clock or its customers.
"""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Engine

from bot.authoring.scratch import ScratchDatabases
from bot.domain.inbound import InboundSms
from bot.domain.vocabulary import Direction, MessageStatus
from bot.engine.durations import DurationError, format_duration, parse_duration
from bot.sending.gateways.base import OutboundText, SendOutcome, SendResult
from bot.services import build_services
from bot.settings import Settings
from bot.store.db import make_db, transaction
from bot.store.models import status_is, utcnow
from bot.store.tables import MESSAGES, SUBSCRIBERS
from bot.testing.clock import SettableClock, let_time_pass
from bot.timers.scheduler import ClockLock

CHAT_HELP = """\
/wait 1d                         let time pass: due follow-ups arrive
/event TYPE [JSON data]          post an event, e.g. /event cart_abandoned {"cart_url": "x"}
/help                            this list
Anything else is a text to the bot."""


class ShiftedClock:
    """Real time plus however much `/wait` has skipped."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def set(self, moment: datetime) -> None:
        self.offset = moment - utcnow()


class ChatGateway:
    """Shows texts sent through the outbox (follow-ups, event flows) as bot lines."""

    name = "chat"

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say

    def send(self, text: OutboundText) -> SendResult:
        self.say(f"bot> {text.body}")
        return SendResult(SendOutcome.ACCEPTED, f"CH{uuid.uuid4().hex}", "delivered")


class ChatSession:
    """One person texting from the terminal, on a scratch database of their own."""

    def __init__(
        self,
        settings: Settings,
        phone: str,
        *,
        say: Callable[[str], None],
        clock: SettableClock | None = None,
    ) -> None:
        self.phone = phone
        self.say = say
        self.clock = clock or ShiftedClock()
        self._scratch = ScratchDatabases("parley-chat-")
        database = self._scratch.fresh()
        self.services = build_services(
            settings.model_copy(update={"DATABASE_URL": f"sqlite:///{database}"}),
            gateway=ChatGateway(say),
            clock=self.clock,
            paced=False,
        )
        self._explained: set[tuple[int, MessageStatus]] = set()  # held texts already told of
        self._introduce(settings.DATABASE_URL)

    def close(self) -> None:
        """Drop the scratch database."""
        self.services.db.dispose()
        self._scratch.close()

    def _introduce(self, database_url: str) -> None:
        """Copy this phone's profile from the service's database; say where the chat plays."""
        service_db = make_db(database_url)
        try:
            status = _copy_subscriber(service_db, self.services.db, self.phone)
            running = ClockLock(service_db).held_elsewhere()
        finally:
            service_db.dispose()
        shown = service_db.url.render_as_string(hide_password=True)
        self.say(
            f"(on a scratch database: {self.phone} is new to {shown}; nothing you do here "
            "changes it)"
            if status is None
            else f"(on a scratch database, with {self.phone}'s profile from {shown} ({status}); "
            "nothing you do here changes it)"
        )
        if running:
            self.say(
                f"warning: a running Parley service uses {shown} (its clock holds the lock). "
                f"This chat leaves it alone, and texts it sends {self.phone} do not show here."
            )

    def handle(self, line: str) -> None:
        """A line typed by the person: a command or a text."""
        text = line.strip()
        if not text:
            return
        if text.startswith("/"):
            self._command(text)
        else:
            sms = InboundSms(
                message_sid=f"CHAT{uuid.uuid4().hex}", from_phone=self.phone, body=text
            )
            conversations = self.services.conversations
            result = conversations.handle_inbound(sms)
            for reply in result.replies:
                self.say(f"bot> {reply.body}")
            conversations.after_answer(result, self.services.dispatcher.send)
        self._explain_held()

    def _command(self, text: str) -> None:
        name, _, rest = text.partition(" ")
        if name == "/wait":
            self._wait(rest)
        elif name == "/event":
            self._event(rest)
        else:
            self.say(CHAT_HELP)

    def _wait(self, rest: str) -> None:
        try:
            duration = parse_duration(rest.strip())
        except DurationError as error:
            self.say(f"(/wait: {error})")
            return
        # The marker first, so what arrived meanwhile reads as arriving later, as on a phone.
        self.say(f"({format_duration(duration)} later)")
        let_time_pass(self.services, self.clock, duration)

    def _event(self, rest: str) -> None:
        parts = shlex.split(rest, posix=False) if rest.strip() else []
        if not parts:
            self.say("(/event needs a type, e.g. /event cart_abandoned)")
            return
        event_type, raw_data = parts[0], rest.strip()[len(parts[0]) :].strip()
        try:
            data = json.loads(raw_data) if raw_data else {}
        except json.JSONDecodeError as error:
            self.say(f"(/event: the data is not JSON: {error.msg})")
            return
        if not isinstance(data, dict):
            self.say("(/event: the data must be a JSON object)")
            return
        listening = self.services.flows.catalog().for_event(event_type)
        self.say(f"(event {event_type} posted{'' if listening else '; no flow starts on it'})")
        outcome = self.services.conversations.handle_event(self.phone, event_type, data)
        self.services.dispatcher.send(outcome.message_ids)

    def _explain_held(self) -> None:
        """Say which texts the send policy held back since the last look, and why."""
        now = self.clock()
        held = select(
            MESSAGES.c.id,
            MESSAGES.c.body,
            MESSAGES.c.status,
            MESSAGES.c.send_after,
            MESSAGES.c.error_message,
        ).where(
            MESSAGES.c.direction == Direction.OUTBOUND,
            or_(
                status_is(MESSAGES.c.status, MessageStatus.SUPPRESSED),
                and_(
                    status_is(MESSAGES.c.status, MessageStatus.PENDING),
                    MESSAGES.c.send_after > now,
                ),
            ),
        )
        with self.services.db.connect() as connection:
            rows = connection.execute(held.order_by(MESSAGES.c.id)).all()
        for row in rows:
            if (row.id, row.status) in self._explained:
                continue
            self._explained.add((row.id, row.status))
            if row.status is MessageStatus.SUPPRESSED:
                self.say(f"(not sent, {row.error_message}: {row.body!r})")
            else:
                until = f"{row.send_after:%Y-%m-%d %H:%M} UTC"
                self.say(f"(held until {until}, {row.error_message or 'scheduled'}: {row.body!r})")


def _copy_subscriber(service: Engine, scratch: Engine, phone: str) -> str | None:
    """Copy the subscriber with this number, if the service knows them; their status."""
    with service.connect() as connection:
        row = (
            connection.execute(select(SUBSCRIBERS).where(SUBSCRIBERS.c.phone == phone))
            .mappings()
            .first()
        )
    if row is None:
        return None
    with transaction(scratch) as connection:
        connection.execute(SUBSCRIBERS.insert().values(**row))
    return str(row["status"])
