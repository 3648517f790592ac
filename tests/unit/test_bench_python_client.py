"""bench/inbound.py's fallback client: each text sent in order per connection, refusals counted."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from bench import python_client
from tests.support.web_server import Answer, Call, WebServer


@dataclass(frozen=True)
class Text:
    form: str
    signature: str


def _body(call: Call) -> str:
    return parse_qs(call.body.decode())["Body"][0]


def test_every_queue_arrives_in_order_with_its_signature() -> None:
    queues = [[Text(f"Body=c{queue}-{index}", f"sig-{queue}-{index}") for index in range(20)]
              for queue in range(3)]  # fmt: skip
    with WebServer({"/twilio/sms": lambda _call: Answer(200, b"<Response/>")}) as server:
        figures = python_client.replay(server.url("/twilio/sms"), queues)
    assert (figures.answered, figures.non_2xx) == (60, 0)
    for queue in range(3):
        sent = [call for call in server.calls if _body(call).startswith(f"c{queue}-")]
        assert [_body(call) for call in sent] == [f"c{queue}-{index}" for index in range(20)]
        assert [call.headers["X-Twilio-Signature"] for call in sent] == [
            f"sig-{queue}-{index}" for index in range(20)
        ]
    assert figures.p99_ms >= figures.p50_ms > 0


def test_answers_other_than_2xx_are_counted_and_a_dead_server_answers_nothing() -> None:
    queues = [[Text(f"Body={index}", "sig") for index in range(10)]]

    def every_third_refused(call: Call) -> Answer:
        return Answer(403 if int(_body(call)) % 3 == 0 else 200, b"")

    with WebServer({"/twilio/sms": every_third_refused}) as server:
        figures = python_client.replay(server.url("/twilio/sms"), queues)
        url = server.url("/twilio/sms")
    assert (figures.answered, figures.non_2xx) == (10, 4)  # texts 0, 3, 6 and 9
    assert python_client.replay(url, queues).answered == 0  # the server is gone
