"""Health for load balancers: 200 only when the database answers, is migrated and takes writes."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify

from bot.store.schema import database_problem
from bot.web import context

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """No authentication: says only whether the database can serve, or the word for why not."""
    problem = database_problem(context.services().db)
    if problem is not None:
        log.error("health check: %s", problem.message())
        return jsonify({"status": "error", "database": str(problem.trouble)}), 503
    return jsonify({"status": "ok", "database": "ok"}), 200
