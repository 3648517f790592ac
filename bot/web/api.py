"""The JSON API for the brand's own systems (bearer API key)."""

from __future__ import annotations

import functools
import io
from importlib.resources import files
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.engine import Connection

from bot.campaigns.parser import read_campaigns
from bot.campaigns.stats import CampaignStats, campaign_stats, csv_rows, has_messages, stats_json
from bot.conversations.results import flow_results, flow_summaries
from bot.conversations.service import EventOutcome
from bot.conversations.signup import OptedOutBySms
from bot.domain.phones import InvalidPhone, normalise_phone
from bot.domain.spreadsheet import csv_writer
from bot.store.messages import messages_after
from bot.store.subscribers import consent_ledger, get_subscriber
from bot.store.tables import AnyRow
from bot.web import context
from bot.web.auth import require_api_key
from bot.web.errors import InvalidInput, problem
from bot.web.json_values import MAX_DEPTH, problem_in
from bot.web.limits import MAX_ROW_ID, int_arg

if TYPE_CHECKING:
    from bot.services import Services

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_PAGE = 1000

ModelT = TypeVar("ModelT", bound=BaseModel)


class SignupRequest(BaseModel):
    """POST /api/subscribers: a web-form signup."""

    phone: str = Field(min_length=1, max_length=40)
    first_name: str | None = Field(default=None, max_length=100)
    source: str = Field(min_length=1, max_length=40)
    consent_text: str = Field(min_length=1, max_length=2000)


class EventRequest(BaseModel):
    """POST /api/events: something happened in the brand's systems."""

    type: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    phone: str = Field(min_length=1, max_length=40)
    data: dict[str, Any] = Field(default_factory=dict)
    id: str | int | None = Field(
        default=None, description="your id for the event: 1 to 128 characters written as text"
    )

    def external_id(self) -> str | None:
        """The caller's id as stored (numbers become text); None when there is none."""
        if self.id is None:
            return None
        value = str(self.id).strip()
        if not value or len(value) > 128:
            raise InvalidInput("id", "id: must be 1 to 128 characters")
        return value


PUBLIC_ENDPOINTS = frozenset({"api.openapi_document"})


@bp.before_request
def _authenticate() -> tuple[Response, int] | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    return require_api_key(request, context.services().settings.API_KEY)


@bp.get("/openapi.json")
def openapi_document() -> tuple[Response, int]:
    """The API as OpenAPI 3.1; public, as it holds no data, only what a client may send."""
    return jsonify(openapi()), 200


@functools.cache
def openapi() -> dict[str, Any]:
    """openapi.yaml with the request bodies' schemas taken from the models that check them."""
    document = yaml.safe_load(files("bot.web").joinpath("openapi.yaml").read_text("utf-8"))
    for model in (SignupRequest, EventRequest):
        document["components"]["schemas"][model.__name__] = model.model_json_schema()
    return document


@bp.post("/subscribers")
def create_subscriber() -> tuple[Response, int]:
    """Sign a number up from a web form; it gets the double opt-in text."""
    signup = _parse_json(SignupRequest)
    parley = context.services()
    phone = _phone(signup.phone, "phone")
    try:
        result = parley.conversations.sign_up(
            phone,
            source=signup.source,
            consent_text=signup.consent_text,
            first_name=signup.first_name,
        )
    except OptedOutBySms:
        return problem(
            409,
            "this number opted out by text; only its owner can rejoin, by texting START",
            field="phone",
        )
    parley.dispatcher.send(result.message_ids)
    with parley.db.connect() as connection:
        subscriber = get_subscriber(connection, phone)
        assert subscriber is not None
        return jsonify(_subscriber_json(connection, subscriber)), 201 if result.created else 200


@bp.post("/events")
def post_event() -> tuple[Response, int]:
    """Store an event and run the flows it concerns; an `id` seen before changes nothing."""
    event = _parse_json(EventRequest)
    parley = context.services()
    outcome = parley.conversations.handle_event(
        _phone(event.phone, "phone"),
        event.type,
        event.data,
        external_id=event.external_id(),
        call_action=False,
    )
    if outcome.action is not None:  # answered first: the action runs on the action pool
        parley.action_pool.submit(
            lambda: _run_action(parley, outcome), f"custom action for event {outcome.event_id}"
        )
    body = {
        "id": outcome.event_id,
        "duplicate": outcome.duplicate,
        "queued": len(outcome.message_ids),
    }
    return jsonify(body), 200 if outcome.duplicate else 202


def _run_action(parley: Services, outcome: EventOutcome) -> None:
    """Send the flow's texts so far, then call its action and send what that says, in order."""
    parley.dispatcher.send(outcome.message_ids)
    parley.dispatcher.send(parley.conversations.run_actions(outcome.action))


@bp.get("/subscribers/<path:phone>")
def show_subscriber(phone: str) -> tuple[Response, int]:
    """A subscriber's status, attributes and consent ledger."""
    phone = _phone(phone, "phone")
    with context.services().db.connect() as connection:
        subscriber = get_subscriber(connection, phone)
        if subscriber is None:
            return problem(404, f"no subscriber with phone {phone}")
        return jsonify(_subscriber_json(connection, subscriber)), 200


@bp.get("/messages")
def list_messages() -> tuple[Response, int]:
    """One number's messages, oldest first; page on with `after=<last id>`."""
    # An unencoded "+" in a query string arrives as a space: "?phone=+44…" means "+44…".
    raw_phone = request.args.get("phone", "")
    if raw_phone.startswith(" ") and raw_phone.strip().isdigit():
        raw_phone = "+" + raw_phone.strip()
    phone = _phone(raw_phone, "phone")
    limit = int_arg("limit", default=200, low=1, high=MAX_PAGE)
    after = int_arg("after", default=0, low=0, high=MAX_ROW_ID)
    with context.services().db.connect() as connection:
        rows = messages_after(connection, phone, after=after, limit=limit)
    return jsonify({"phone": phone, "messages": [_message_json(row) for row in rows]}), 200


@bp.get("/flows")
def list_flows() -> tuple[Response, int]:
    """The flows in force, with their triggers and how many conversations each has had."""
    parley = context.services()
    with parley.db.connect() as connection:
        return jsonify({"flows": flow_summaries(connection, parley.flows.catalog())}), 200


@bp.get("/flows/<name>/results")
def show_flow_results(name: str) -> tuple[Response, int]:
    """One flow's funnel, step by step, and the distribution of its answers."""
    parley = context.services()
    flow = parley.flows.catalog().flows.get(name)
    if flow is None:
        return problem(404, f"no flow named {name!r} is in force")
    with parley.db.connect() as connection:
        return jsonify(flow_results(connection, flow)), 200


@bp.get("/campaigns/<name>/stats")
def show_campaign_stats(name: str) -> tuple[Response, int]:
    """A campaign's results: totals, one row per variant, and the A/B winner."""
    stats = _campaign_stats(name)
    if stats is None:
        return problem(404, f"no campaign named {name!r}: no campaign file and no texts sent")
    return jsonify(stats_json(stats)), 200


@bp.get("/campaigns/<name>/stats.csv")
def campaign_stats_csv(name: str) -> Response | tuple[Response, int]:
    """A campaign's per-variant rows as CSV."""
    stats = _campaign_stats(name)
    if stats is None:
        return problem(404, f"no campaign named {name!r}: no campaign file and no texts sent")
    buffer = io.StringIO()
    csv_writer(buffer, lineterminator="\n").writerows(csv_rows(stats))
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}-stats.csv"'},
    )


def _campaign_stats(name: str) -> CampaignStats | None:
    parley = context.services()
    settings = parley.settings
    parsed = read_campaigns(
        settings.FLOWS_DIR, brand=settings.BRAND_NAME, flow_names=parley.flows.catalog().flows
    )
    found = next((p.campaign for p in parsed if p.campaign and p.campaign.name == name), None)
    with parley.db.connect() as connection:
        if found is None and not has_messages(connection, name):
            return None
        return campaign_stats(
            connection,
            name,
            variant_names=[variant.name for variant in found.variants] if found else (),
            price_per_segment=settings.PRICE_PER_SEGMENT,
            currency=settings.CURRENCY,
            attribution_days=settings.ATTRIBUTION_DAYS,
        )


def _parse_json(model: type[ModelT]) -> ModelT:
    if not request.is_json:
        raise InvalidInput("body", "send a JSON object with Content-Type: application/json")
    try:
        payload = request.get_json(silent=True)
    except RecursionError:
        raise InvalidInput("body", f"the JSON is nested too deeply (at most {MAX_DEPTH})") from None
    if not isinstance(payload, dict):
        raise InvalidInput("body", "the body is not a JSON object")
    for key, value in payload.items():
        unstorable = problem_in(value, str(key))
        if unstorable:
            raise InvalidInput(str(key), unstorable)
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "body"  # the top-level field
        raise InvalidInput(field, f"{field}: {first['msg']}") from None


def _phone(raw: str, field: str) -> str:
    try:
        return normalise_phone(raw, context.services().settings.DEFAULT_COUNTRY)
    except InvalidPhone as error:
        raise InvalidInput(field, f"{field}: {error}") from None


def _subscriber_json(connection: Connection, subscriber: AnyRow) -> dict[str, Any]:
    ledger = consent_ledger(connection, subscriber.id)
    return {
        "phone": subscriber.phone,
        "status": subscriber.status,
        "first_name": subscriber.first_name,
        "timezone": subscriber.timezone,
        "attributes": subscriber.attributes,
        "tags": subscriber.tags,
        "email": subscriber.email,
        "created_at": subscriber.created_at.isoformat(),
        "updated_at": subscriber.updated_at.isoformat(),
        "consent": [
            {
                "kind": event.kind,
                "source": event.source,
                "keyword": event.keyword,
                "text": event.text,
                "created_at": event.created_at.isoformat(),
            }
            for event in ledger
        ],
    }


def _message_json(message: AnyRow) -> dict[str, Any]:
    return {
        "id": message.id,
        "direction": message.direction,
        "body": message.body,
        "media_urls": message.media_urls,
        "status": message.status,
        "segments": message.segments,
        "encoding": message.encoding,
        "purpose": message.purpose,
        "provider_sid": message.provider_sid,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "created_at": message.created_at.isoformat(),
    }
