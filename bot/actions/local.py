"""Run rasa-sdk actions in this process with rasa_sdk's own ActionExecutor."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import sys
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bot.actions.base import ActionError, ActionRequest, ActionResult
from bot.actions.protocol import action_call, action_result

if TYPE_CHECKING:
    from rasa_sdk.executor import ActionExecutor

T = TypeVar("T")


class LocalActionRunner:
    """Runs the actions of one Python package in-process, loading it on first use."""

    def __init__(self, package: str = "actions", search_path: Path | None = None) -> None:
        self._package = package
        self._search_path = search_path
        self._executor: ActionExecutor | None = None
        self._loading = threading.Lock()

    def names(self) -> frozenset[str]:
        """The actions defined in the package; ActionError when it cannot be loaded."""
        return frozenset(self._loaded().actions)

    def run(self, request: ActionRequest) -> ActionResult:
        """Run one action and translate its events and messages."""
        from rasa_sdk.interfaces import ActionExecutionRejection

        executor = self._loaded()
        if request.action not in executor.actions:
            known = ", ".join(sorted(executor.actions)) or "none"
            raise ActionError(
                f"{request.describe()} is not defined in package '{self._package}' "
                f"(it has: {known})"
            )
        try:
            result = _run_sync(executor.run(action_call(request)))
        except ActionExecutionRejection as rejection:
            raise ActionError(f"{request.describe()} rejected the call: {rejection}") from rejection
        except Exception as error:
            raise ActionError(
                f"{request.describe()} raised {type(error).__name__}: {error}"
            ) from error
        return action_result(request, result.model_dump() if result else None)

    def _loaded(self) -> ActionExecutor:
        with self._loading:
            if self._executor is None:
                self._executor = self._load()
            return self._executor

    def _load(self) -> ActionExecutor:
        # rasa_sdk (and the sanic it brings) is imported here, on first use: it was 8% of the
        # start-up of every `bot` process, most of which (workers, most commands) run no action.
        from rasa_sdk.executor import ActionExecutor

        self._make_importable()
        executor = ActionExecutor()
        try:
            executor.register_package(self._package)
        except SystemExit as exit_:
            # register_package logs an ImportError and calls sys.exit(1), as suits a server's
            # start-up; the ImportError survives as the exit's context, so report that instead.
            cause = exit_.__context__ or exit_
            raise ActionError(f"cannot import action package '{self._package}': {cause}") from cause
        except Exception as error:
            raise ActionError(
                f"cannot load action package '{self._package}': {type(error).__name__}: {error}"
            ) from error
        # The executor registers every Action subclass imported anywhere in the process; keep only
        # this package's, so names() answers for the package and another package's actions stay out.
        executor.actions = {
            name: function for name, function in executor.actions.items() if self._defines(function)
        }
        return executor

    def _make_importable(self) -> None:
        """Add search_path (default: the working directory) to sys.path if the package needs it."""
        if _findable(self._package):
            return
        # `bot serve` is a console script: its working directory is not on sys.path by itself.
        # Appended, not prepended, so the project's files never shadow installed modules.
        folder = str((self._search_path or Path.cwd()).resolve())
        if folder not in sys.path:
            sys.path.append(folder)
            importlib.invalidate_caches()
        if not _findable(self._package):
            raise ActionError(
                f"action package '{self._package}' not found in {folder} or on the Python path; "
                f"create {folder}/{self._package.replace('.', '/')}/__init__.py"
            )

    def _defines(self, function: Callable[..., Any]) -> bool:
        module = type(getattr(function, "__self__", None)).__module__
        return module == self._package or module.startswith(self._package + ".")


def _findable(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except ImportError:  # a missing parent package of a dotted name
        return False


def _run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, on any thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # Called from inside a running loop, which asyncio.run refuses: give it a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as worker:
        return worker.submit(asyncio.run, coroutine).result()
