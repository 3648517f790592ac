"""gunicorn's settings for `gunicorn webhook:app` run from this folder (gunicorn reads this file
by default): what the command line does not say. The Procfile's flags still apply."""

from __future__ import annotations

from typing import Any


def worker_exit(server: Any, worker: Any) -> None:
    """A stopping worker closes Parley's services: the texts its action threads have not begun
    stay in the outbox for `bot worker`, so a restart does not wait out the send pace (and
    gunicorn's graceful timeout) for them."""
    from bot.app import close_app

    close_app(getattr(worker, "wsgi", None))
