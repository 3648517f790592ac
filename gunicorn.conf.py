"""gunicorn's settings for `gunicorn webhook:app` run from this folder (gunicorn reads this file
by default): what the command line does not say. The Procfile's flags still apply."""

from __future__ import annotations

from typing import Any

# The master imports Parley's modules once, before it forks the workers, so that a worker (and
# each one gunicorn restarts) no longer spends a second or more of CPU importing them: the
# master and four workers booted on 3.8-4.3 s of CPU instead of 8.3-10.1 s. Each worker still
# makes its own app, connections and threads after the fork (webhook.py): nothing made crosses it.
import bot.app  # noqa: F401


def worker_exit(server: Any, worker: Any) -> None:
    """A stopping worker closes Parley's services: the texts its action threads have not begun
    stay in the outbox for `bot worker`, so a restart does not wait out the send pace (and
    gunicorn's graceful timeout) for them."""
    from bot.app import close_app

    close_app(getattr(worker, "wsgi", None))
