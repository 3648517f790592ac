"""The console gateway: prints each text as one JSON line instead of sending it."""

from __future__ import annotations

import json
import sys
import threading
import uuid
from typing import TextIO

from bot.domain.segments import count_segments
from bot.sending.gateways.base import OutboundText, SendOutcome, SendResult


class ConsoleGateway:
    """Writes what it would send to a stream, so the bot runs with no provider configured."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        # Resolved per instance, not as a default argument, so a replaced sys.stdout is honoured.
        self.stream = stream if stream is not None else sys.stdout
        # Several dispatcher threads may share one gateway; lines must never interleave.
        self._lock = threading.Lock()

    def send(self, text: OutboundText) -> SendResult:
        """Print the text as one JSON line and report it sent."""
        sid = "CN" + uuid.uuid4().hex
        info = count_segments(text.body)
        line = json.dumps(
            {
                "gateway": self.name,
                "to": text.to,
                "body": text.body,
                "media_urls": list(text.media_urls),
                "sid": sid,
                "segments": info.segments,
                "encoding": str(info.encoding),
            },
            ensure_ascii=False,  # a person reads this; show "’" and emoji as themselves
        )
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()
        return SendResult(outcome=SendOutcome.ACCEPTED, provider_sid=sid, status="sent")
