"""The JSON API for the brand's own systems (bearer API key)."""

from __future__ import annotations

import functools
import io
import re
from datetime import datetime
from importlib.resources import files
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, Field, StrictInt, StrictStr, ValidationError

from bot.campaigns.decision import split_json, split_state
from bot.campaigns.parser import read_campaigns
from bot.campaigns.stats import CampaignStats, campaign_stats, csv_rows, has_messages, stats_json
from bot.conversations.requests import IdInUse, OptedOut, UnknownNumber
from bot.conversations.results import flow_results, flow_summaries
from bot.conversations.signup import OptedOutBySms
from bot.conversations.turn import PendingAction
from bot.domain.effects import Send
from bot.domain.moments import parse_moment
from bot.domain.phones import InvalidPhone, normalise_phone
from bot.domain.policy import Verdict
from bot.domain.spreadsheet import csv_writer
from bot.domain.vocabulary import Purpose, SubscriberStatus
from bot.store.messages import messages_after
from bot.store.subscribers import (
    SubscriberFilter,
    consent_ledger,
    consent_ledgers,
    get_subscriber,
    subscribers_after,
)
from bot.store.tables import AnyRow
from bot.web import context
from bot.web.api_bodies import (
    CONSENT_FIELDS,
    FlowStartRequest,
    MessageRequest,
    ProfileChanges,
    client_id,
)
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
    id: StrictStr | StrictInt | None = Field(
        default=None, description="your id for the event: 1 to 128 characters written as text"
    )

    def external_id(self) -> str | None:
        """The caller's id as stored (numbers become text); None when there is none."""
        return client_id(self.id)


PUBLIC_ENDPOINTS = frozenset({"api.openapi_document"})
REQUEST_BODIES: tuple[type[BaseModel], ...] = (
    SignupRequest,
    EventRequest,
    MessageRequest,
    FlowStartRequest,
    ProfileChanges,
)
_UNENCODED_PLUS = re.compile(r"(T[0-9:.]+) ([0-9]{2}(?::?[0-9]{2})?)$")
SUBSCRIBERS_PAGE = 100  # GET /api/subscribers without a limit
# What the send policy decided for a text, in the words of POST /api/messages.
TEXT_STATUS = {Verdict.SEND: "queued", Verdict.DEFER: "deferred", Verdict.SUPPRESS: "suppressed"}


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
    schemas = document["components"]["schemas"]
    for model in REQUEST_BODIES:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))  # models a body nests (TagChanges)
        schemas[model.__name__] = schema
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
    return jsonify(_stored_subscriber(phone)), 201 if result.created else 200


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
            lambda: _run_action(parley, outcome.message_ids, outcome.action),
            f"custom action for event {outcome.event_id}",
        )
    body = {
        "id": outcome.event_id,
        "duplicate": outcome.duplicate,
        "queued": len(outcome.message_ids),
    }
    return jsonify(body), 200 if outcome.duplicate else 202


def _run_action(parley: Services, message_ids: list[int], action: PendingAction | None) -> None:
    """Send the flow's texts so far, then call its action and send what that says, in order."""
    parley.dispatcher.send(message_ids)
    parley.dispatcher.send(parley.conversations.run_actions(action))


@bp.get("/subscribers/<path:phone>")
def show_subscriber(phone: str) -> tuple[Response, int]:
    """A subscriber's status, attributes and consent ledger."""
    phone = _phone(phone, "phone")
    subscriber = _stored_subscriber(phone)
    if subscriber is None:
        return problem(404, f"no subscriber with phone {phone}")
    return jsonify(subscriber), 200


@bp.patch("/subscribers/<path:phone>")
def update_subscriber(phone: str) -> tuple[Response, int]:
    """Change a person's first name, time zone, attributes and tags; never their consent."""
    payload = _json_object()
    for name in CONSENT_FIELDS:
        if name in payload:
            raise InvalidInput(
                name,
                f"{name}: consent is not changed here; it changes only by the person's own"
                " texts (STOP, START, JOIN) and by signups (POST /api/subscribers)",
            )
    changes = _validated(ProfileChanges, payload)
    phone = _phone(phone, "phone")
    try:
        context.services().conversations.update_profile(phone, changes.patch())
    except UnknownNumber as unknown:
        return problem(404, str(unknown))
    return jsonify(_stored_subscriber(phone)), 200


@bp.get("/subscribers")
def list_subscribers() -> tuple[Response, int]:
    """People in id order, a page at a time; `next` is the `after` of the next page."""
    where = SubscriberFilter(
        status=_status_arg("status"),
        tag=request.args.get("tag") or None,
        updated_since=_moment_arg("updated_since"),
    )
    limit = int_arg("limit", default=SUBSCRIBERS_PAGE, low=1, high=MAX_PAGE)
    after = int_arg("after", default=0, low=0, high=MAX_ROW_ID)
    with context.services().db.connect() as connection:
        rows = subscribers_after(connection, after, limit + 1, where)
        page = rows[:limit]
        ledgers = consent_ledgers(connection, [row.id for row in page])
    return jsonify(
        {
            "subscribers": [_subscriber_json(row, ledgers[row.id]) for row in page],
            "next": page[-1].id if len(rows) > limit else None,
        }
    ), 200


@bp.post("/messages")
def send_message() -> tuple[Response, int]:
    """One text to a known person, through the send policy; an `id` seen before queues nothing."""
    asked = _parse_json(MessageRequest)
    parley = context.services()
    phone = _phone(asked.phone, "phone")
    send = Send(
        asked.body, Purpose(asked.purpose), tuple(asked.media_urls), external_id=client_id(asked.id)
    )
    try:
        sent = parley.conversations.send_text(phone, send)
    except UnknownNumber as unknown:
        return problem(404, f"{unknown}: only people who have texted or signed up get texts")
    except OptedOut as opted_out:
        return problem(409, str(opted_out), field="phone")
    except IdInUse as in_use:
        return problem(409, str(in_use), field="id")
    if sent.decision.allowed and not sent.duplicate:
        parley.dispatcher.send([sent.message_id])
    decision = sent.decision
    body = {
        "id": sent.message_id,
        "phone": phone,
        "status": TEXT_STATUS[decision.verdict],
        "reason": decision.reason,
        "send_at": None if decision.send_at is None else decision.send_at.isoformat(),
        "duplicate": sent.duplicate,
    }
    return jsonify(body), 202


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


@bp.post("/flows/<name>/start")
def start_flow(name: str) -> tuple[Response, int]:
    """Start a flow for one known person, if its rules and the person's state allow it."""
    asked = _parse_json(FlowStartRequest)
    parley = context.services()
    flow = parley.flows.catalog().flows.get(name)
    if flow is None:
        return problem(404, f"no flow named {name!r} is in force")
    phone = _phone(asked.phone, "phone")
    try:
        started = parley.conversations.start_flow(phone, flow, asked.data)
    except UnknownNumber as unknown:
        return problem(404, str(unknown), field="phone")
    if started.refusal is not None:
        return problem(409, f"{name} was not started for {phone}: {started.refusal}")
    if started.action is None:
        parley.dispatcher.send(started.message_ids)
    else:  # answered first: the action runs on the action pool
        parley.action_pool.submit(
            lambda: _run_action(parley, started.message_ids, started.action),
            f"custom action of {name} for {phone}",
        )
    body = {"flow": name, "phone": phone, "started": True, "queued": len(started.message_ids)}
    return jsonify(body), 202


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
    with context.services().db.connect() as connection:
        test = split_json(split_state(connection, name))
    return jsonify({**stats_json(stats), "test": test}), 200


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
            price_per_mms=settings.PRICE_PER_MMS,
            currency=settings.CURRENCY,
            attribution_days=settings.ATTRIBUTION_DAYS,
        )


def _parse_json(model: type[ModelT]) -> ModelT:
    return _validated(model, _json_object())


def _json_object() -> dict[str, Any]:
    """The request's JSON object, every value one a database can store; InvalidInput if not."""
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
    return payload


def _validated(model: type[ModelT], payload: dict[str, Any]) -> ModelT:
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "body"  # the top-level field
        if first["type"] == "extra_forbidden":
            expected = ", ".join(model.model_fields)
            message = f"{field}: not a field of this request (it takes {expected})"
            raise InvalidInput(field, message) from None
        raise InvalidInput(field, f"{field}: {first['msg']}") from None


def _status_arg(name: str) -> SubscriberStatus | None:
    """The query parameter `name` as a subscriber status, None when empty; 422 if no status."""
    raw = request.args.get(name, "")
    if not raw:
        return None
    try:
        return SubscriberStatus(raw)
    except ValueError:
        choices = ", ".join(status.value for status in SubscriberStatus)
        raise InvalidInput(name, f"{name}: {raw[:40]!r} is not one of {choices}") from None


def _moment_arg(name: str) -> datetime | None:
    """The query parameter `name` as an ISO 8601 moment (UTC without an offset), or None."""
    if name not in request.args:
        return None
    raw = request.args[name].strip()
    if not raw:  # as the schema says: a moment or nothing, and an empty one filters nothing
        raise InvalidInput(
            name, f"{name} is empty: leave it out, or give a time such as 2026-03-01"
        )
    try:
        # An unencoded "+" of an offset ("…T10:00:00+02:00") arrives as a space.
        return parse_moment(_UNENCODED_PLUS.sub(r"\1+\2", raw))
    except ValueError:
        raise InvalidInput(
            name, f"{name}: {raw[:40]!r} is not an ISO 8601 time such as 2026-03-01T14:30:00Z"
        ) from None


def _phone(raw: str, field: str) -> str:
    try:
        return normalise_phone(raw, context.services().settings.DEFAULT_COUNTRY)
    except InvalidPhone as error:
        raise InvalidInput(field, f"{field}: {error}") from None


def _stored_subscriber(phone: str) -> dict[str, Any] | None:
    """The subscriber with this number as the API shows one, or None."""
    with context.services().db.connect() as connection:
        subscriber = get_subscriber(connection, phone)
        if subscriber is None:
            return None
        return _subscriber_json(subscriber, consent_ledger(connection, subscriber.id))


def _subscriber_json(subscriber: AnyRow, ledger: list[AnyRow]) -> dict[str, Any]:
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
