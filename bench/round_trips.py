"""A TCP proxy that counts round trips: each time a client speaks again after the server answered.

Statements a client sends together (psycopg's pipeline mode) before reading any answer are
one round trip however many they are; a client that waits for each answer makes one per
statement. Used by `bench/cpu_per_text.py --count` between the app and PostgreSQL.
"""

from __future__ import annotations

import selectors
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class _Pair:
    client: socket.socket
    server: socket.socket
    server_answered: bool = True  # the client's first bytes open a round trip
    closed: bool = False


@dataclass
class RoundTripProxy:
    """Listens on 127.0.0.1:`port` (0: any free one) and forwards to `target`."""

    target: tuple[str, int]
    round_trips: int = 0
    by_port: dict[int, int] = field(default_factory=dict)  # the client's port: its round trips
    _listener: socket.socket = field(default_factory=socket.socket)
    _stopping: threading.Event = field(default_factory=threading.Event)

    def start(self) -> int:
        """Start forwarding in a daemon thread; returns the port to connect to."""
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self._listener.setblocking(False)
        threading.Thread(target=self._forward, daemon=True).start()
        return int(self._listener.getsockname()[1])

    def stop(self) -> None:
        self._stopping.set()

    def _forward(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ, None)
        while not self._stopping.is_set():
            for key, _events in selector.select(timeout=0.2):
                if key.data is None:
                    client, _address = self._listener.accept()
                    server = socket.create_connection(self.target)
                    pair = _Pair(client, server)
                    selector.register(client, selectors.EVENT_READ, (pair, True))
                    selector.register(server, selectors.EVENT_READ, (pair, False))
                    continue
                pair, from_client = key.data
                if pair.closed:  # its other side, closed earlier in this same select()
                    continue
                source, sink = (
                    (pair.client, pair.server) if from_client else (pair.server, pair.client)
                )
                try:
                    chunk = source.recv(65536)
                    if chunk:
                        if from_client and pair.server_answered:
                            self.round_trips += 1
                            port = pair.client.getpeername()[1]
                            self.by_port[port] = self.by_port.get(port, 0) + 1
                        pair.server_answered = not from_client
                        sink.sendall(chunk)
                        continue
                except OSError:  # one side reset: the pair is done, the proxy goes on
                    pass
                pair.closed = True
                selector.unregister(pair.client)
                selector.unregister(pair.server)
                pair.client.close()
                pair.server.close()
