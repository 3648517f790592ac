"""Custom actions run after the webhook has answered, on a few threads of their own."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

ACTION_THREADS = 4  # per web process: calls at once; as many more may wait for a thread


class ActionPool:
    """A small, bounded pool for work that must not hold a request thread.

    A sync web worker serves one request at a time: a webhook that waited for a slow action
    server would keep every other customer (STOPs included) out of that worker. Work that
    finds the pool full is not queued without bound: it is skipped, and the conversation's
    `action` timer calls the action later, so nothing is lost.
    """

    def __init__(self, threads: int = ACTION_THREADS) -> None:
        self.threads = threads
        self._room = threading.BoundedSemaphore(threads * 2)  # running plus waiting
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._busy = 0
        self._closed = False
        self._idle = threading.Condition(self._lock)

    def submit(self, work: Callable[[], None], what: str) -> bool:
        """Run `work` on a pool thread; False (and a log line) when the pool is full or shut."""
        if not self._room.acquire(blocking=False):
            log.warning("%s: every action thread is busy; its timer will call it", what)
            return False
        with self._lock:
            if self._closed:  # the process is stopping
                self._room.release()
                log.warning("%s: shutting down; its timer will call it", what)
                return False
            if self._executor is None:  # created on first use: commands never start threads
                self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="action")
            self._executor.submit(self._run, work, what)
            self._busy += 1
        return True

    def _run(self, work: Callable[[], None], what: str) -> None:
        """Run one piece of work; a failure is logged, never raised into the pool."""
        try:
            work()
        except Exception:
            log.exception("%s failed; its timer will call it again", what)
        finally:
            self._room.release()
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no work is running or waiting; False if `timeout` seconds pass first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop taking work; with `wait`, let what was taken finish."""
        with self._lock:
            executor, self._executor = self._executor, None
            self._closed = True
        if executor is not None:
            executor.shutdown(wait=wait)
