"""`bot chat`: a terminal phone that texts the real conversation logic, with time on a leash."""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.app import create_app, services_of
from bot.engine.durations import DurationError, format_duration, parse_duration
from bot.gateways.base import OutboundText, SendOutcome, SendResult
from bot.inbound import InboundSms
from bot.models import utcnow
from bot.settings import Settings
from bot.testing.clock import let_time_pass

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
    """One person texting from the terminal."""

    def __init__(self, settings: Settings, phone: str, *, say: Callable[[str], None]) -> None:
        self.phone = phone
        self.say = say
        self.clock = ShiftedClock()
        self.services = services_of(
            create_app(settings, gateway=ChatGateway(say), clock=self.clock)
        )

    def handle(self, line: str) -> None:
        """A line typed by the person: a command or a text."""
        text = line.strip()
        if not text:
            return
        if text.startswith("/"):
            self._command(text)
            return
        sms = InboundSms(message_sid=f"CHAT{uuid.uuid4().hex}", from_phone=self.phone, body=text)
        conversations = self.services.conversations
        result = conversations.handle_inbound(sms)
        for reply in result.replies:
            self.say(f"bot> {reply.body}")
        conversations.after_answer(result, self.services.dispatcher.send)

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
        outcome = self.services.conversations.handle_event(self.phone, event_type, data)
        self.services.dispatcher.send(outcome.message_ids)
