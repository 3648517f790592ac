"""The in-process heartbeat of `bot serve`: fires due timers and sends what they queue."""

from __future__ import annotations

import logging
import threading

from bot.services import Services

log = logging.getLogger(__name__)


class Ticker:
    """Every `interval` seconds, resume conversations whose timers came due and send the texts."""

    def __init__(self, services: Services, interval: float = 1.0) -> None:
        self.services = services
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="parley-ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def tick(self) -> int:
        """One round; returns how many texts it handed to the gateway."""
        message_ids = self.services.conversations.fire_due_timers()
        self.services.dispatcher.send(message_ids)
        return len(message_ids)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # one bad round must not stop the heartbeat
                log.exception("ticker round failed; trying again in %s s", self.interval)
