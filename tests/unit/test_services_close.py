"""Closing the services: nothing a request handed to the action threads writes afterwards."""

from __future__ import annotations

import threading
from pathlib import Path

from bot.sending.gateways.fake import FakeGateway
from bot.services import build_services
from tests.support.harness import GENEROUS, make_settings


def test_close_waits_for_the_work_the_action_threads_took_and_takes_no_more(
    tmp_path: Path,
) -> None:
    services = build_services(
        make_settings(f"sqlite:///{tmp_path}/parley.db"), gateway=FakeGateway()
    )
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def call_an_action() -> None:
        started.set()
        release.wait(GENEROUS)
        finished.set()

    assert services.action_pool.submit(call_an_action, "a slow action")
    assert started.wait(GENEROUS)
    finished_when_closed: list[bool] = []
    closer = threading.Thread(
        target=lambda: (services.close(), finished_when_closed.append(finished.is_set()))
    )
    closer.start()
    release.set()
    closer.join(GENEROUS)
    # Without the wait, close() returns while the action still blocks on `release`.
    assert finished_when_closed == [True]
    assert not services.action_pool.submit(lambda: None, "work after close")
