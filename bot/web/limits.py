"""What a request may carry before it reaches the database: id ranges, whole numbers, no NUL.

Each route's own checks say what a value means; these say what any column can hold at all, so a
value no database could store is refused with a 4xx at the edge instead of a 500 from the driver
(SQLite refuses integers past 64 bits, PostgreSQL refuses a NUL in any text).
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from flask import Flask, Request, Response, request
from werkzeug.routing import BaseConverter, ValidationError

from bot.store.models import MAX_ROW_ID
from bot.web.errors import InvalidInput, problem
from bot.web.json_values import all_storable, problem_in

MAX_INT32 = 2**31 - 1  # a plain INTEGER column on PostgreSQL


class RowIdConverter(BaseConverter):
    """`<id:name>` in a route: a row id, 1 to MAX_ROW_ID; anything else matches no route (404)."""

    regex = r"[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_ROW_ID:
            raise ValidationError()
        return number

    def to_url(self, value: Any) -> str:
        return str(int(value))


def int_arg(name: str, *, default: int, low: int, high: int) -> int:
    """The query parameter `name` as a whole number in [low, high]; InvalidInput (422) if not."""
    try:
        value = whole_number(request.args.get(name), low=low, high=high)
    except ValueError as error:
        raise InvalidInput(name, f"{name}: {error}") from None
    return default if value is None else value


def whole_number(raw: str | None, *, low: int, high: int) -> int | None:
    """`raw` as a whole number in [low, high], None when empty; ValueError saying why not."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    # int() also reads "١٢", "1_000" and "+5": only plain ASCII digits make a whole number here.
    digits = text.removeprefix("-")
    if not digits.isascii() or not digits.isdigit() or len(digits) > 20:
        raise ValueError(f"{raw[:40]!r} is not a whole number")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"must be between {low} and {high}")
    return value


def unstorable_parameter(req: Request) -> tuple[str, str] | None:
    """(name, problem) for the first path, query or form value no database can store, else None."""
    sources: list[tuple[str, Any]] = list((req.view_args or {}).items())
    if req.query_string:  # a webhook has none: no query to parse into an empty MultiDict
        sources += req.args.items(multi=True)
    if req.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sources += req.form.items(multi=True)
    # The clean request (nearly all) in one search; a path's int or float is looked at below.
    if all(isinstance(value, str) for _, value in sources) and all_storable(chain(*sources)):
        return None
    for name, value in sources:
        found = problem_in(name, name) or problem_in(value, name)
        if found:
            return name, found
    return None


def register_input_limits(app: Flask) -> None:
    """Add the `id` route converter and refuse unstorable parameters on every route (400)."""
    app.url_map.converters["id"] = RowIdConverter

    @app.before_request
    def _refuse_unstorable() -> tuple[Response, int] | None:
        found = unstorable_parameter(request)
        if found is None:
            return None
        name, message = found
        return problem(400, message, field=name)
