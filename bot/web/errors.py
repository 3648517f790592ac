"""Clear JSON errors for every HTTP failure; never a traceback for what a client can send."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def problem(status: int, message: str, *, field: str | None = None) -> tuple[Response, int]:
    """A JSON error body: {"error": message, "field": name?}."""
    body: dict[str, str] = {"error": message}
    if field is not None:
        body["field"] = field
    return jsonify(body), status


class InvalidInput(Exception):
    """A request field is wrong: answered 422 naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def register_error_handlers(app: Flask) -> None:
    """Answer HTTP errors and unexpected failures as JSON."""

    @app.errorhandler(InvalidInput)
    def _invalid_input(error: InvalidInput) -> tuple[Response, int]:
        return problem(422, error.message, field=error.field)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> tuple[Response, int]:
        return problem(error.code or 500, error.description or error.name)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[Response, int]:
        log.exception("unexpected error")
        return problem(500, "internal error; the details are in the server log")
