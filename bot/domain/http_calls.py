"""An `http` step's call as values: the request a flow asks for, the reply it gets, and where
its `${NAME}` secrets come from. Pure: `bot.actions.http_calls` makes the call."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# `${SHOP_TOKEN}`: an environment variable, named as shells name them.
SECRET_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Secret:
    """`${NAME}` in a header: environment variable NAME, read only when the call is made.

    Kept apart from the text around it, so that a person's value that reads `${API_KEY}` is
    sent as those characters and never looked up.
    """

    name: str

    def __str__(self) -> str:
        return f"${{{self.name}}}"


HeaderValue = tuple[str | Secret, ...]  # text, and secrets to fill in at call time


@dataclass(frozen=True)
class HttpRequest:
    """One call an `http` step asks for, filled in with the person's values."""

    method: str  # GET or POST
    url: str  # each person's value in it percent-encoded
    headers: tuple[tuple[str, HeaderValue], ...] = ()
    body: Any = None  # a JSON value; None: no body
    timeout: float = 5.0  # seconds for the whole call

    def describe(self) -> str:
        """The method and URL without its query (which may hold a person's values), for logs."""
        parts = urlsplit(self.url)
        return f"{self.method} {parts.scheme}://{parts.netloc}{parts.path}"


@dataclass(frozen=True)
class HttpReply:
    """What the URL answered (its status and body), or why nothing usable came back."""

    status: int | None = None
    document: Any = None  # the body read as JSON
    is_json: bool = False  # False: the body was empty or not JSON
    problem: str | None = None  # the call failed before any answer (timeout, refused …)

    @classmethod
    def failed(cls, problem: str) -> HttpReply:
        return cls(problem=problem)

    @classmethod
    def timed_out(cls, timeout: float) -> HttpReply:
        return cls(problem=f"no answer within {timeout:g} s")


class MissingSecret(LookupError):
    """A `${NAME}` that cannot be filled in; the message says which and why."""


@dataclass(frozen=True)
class Secrets:
    """Where `${NAME}` is read: the process's variables, but never Parley's own settings
    (`reserved`), so a flow file cannot send the database URL or the Twilio token anywhere."""

    variables: Mapping[str, str]
    reserved: frozenset[str] = frozenset()

    def problem_with(self, name: str) -> str | None:
        """Why `${name}` cannot be filled in now; None when it can."""
        if name in self.reserved:
            return f"${{{name}}} is one of Parley's own settings: a flow may not send it anywhere"
        if not self.variables.get(name):
            return f"environment variable {name} is not set"
        return None

    def fill(self, value: HeaderValue) -> str:
        """A header's value with its secrets filled in; raises MissingSecret."""
        pieces: list[str] = []
        for part in value:
            if isinstance(part, Secret):
                problem = self.problem_with(part.name)
                if problem is not None:
                    raise MissingSecret(problem)
                part = self.variables[part.name]
            pieces.append(part)
        return "".join(pieces)
