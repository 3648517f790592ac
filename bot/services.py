"""Wires settings into the objects the edges use: the db, gateway, conversation service."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine
from werkzeug.security import check_password_hash

from bot.accounts.agents import PasswordCheck
from bot.actions.background import ActionPool
from bot.actions.base import ActionError, ActionRunner
from bot.actions.factory import build_action_runner
from bot.actions.http_calls import HttpCaller, WebCaller
from bot.campaigns.conversions import tell_attributed_order
from bot.conversations.assignment import AssignmentRound
from bot.conversations.flow_registry import FlowRegistry
from bot.conversations.flows import FlowHost
from bot.conversations.service import ConversationService
from bot.conversations.team_files import FileInForce, file_labels, saved_replies
from bot.domain.compliance import ComplianceTexts
from bot.domain.keywords import load_vocabulary
from bot.domain.pacing import Pace, Pacer, below_the_limit, sleep_unless_stopping
from bot.engine.conversation_labels import LabelsFile
from bot.engine.durations import format_duration
from bot.engine.saved_replies import RepliesFile
from bot.sending.dispatcher import Dispatcher
from bot.sending.gateways.base import Gateway
from bot.sending.gateways.console import ConsoleGateway
from bot.sending.shared_pace import DatabaseBucket, RedisBucket, SharedPace
from bot.settings import GatewayName, PaceStore, Settings
from bot.store.db import make_db
from bot.store.models import utcnow
from bot.twilio.gateway import TwilioGateway
from bot.twilio.paths import STATUS_CALLBACK_PATH
from bot.webhooks.delivery import WebhookSender
from bot.webhooks.endpoints import EndpointSource

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a request or a command needs, built once per process."""

    settings: Settings
    db: Engine
    gateway: Gateway
    texts: ComplianceTexts
    flows: FlowRegistry
    conversations: ConversationService
    dispatcher: Dispatcher
    # The inbox's files beside the flows: saved replies and labels (FLOWS_DIR).
    replies: FileInForce[RepliesFile]
    labels: FileInForce[LabelsFile]
    # Web requests hand custom actions to it, so a slow action server holds no request thread.
    action_pool: ActionPool = field(default_factory=ActionPool)
    # How a login's password is checked against its stored hash (scrypt); tests pass a
    # remembering one, as one scrypt costs 0.1-0.2 s of CPU.
    check_password: PasswordCheck = check_password_hash

    def close(self) -> None:
        """Stop: the action threads finish the call or text in hand, and leave the texts they
        have not begun in the outbox for a `bot worker` (not waiting out the send pace for
        each); then the database's connections close. Nothing this process started writes
        after it has closed."""
        self.dispatcher.stopping.set()
        self.action_pool.shutdown(wait=True)
        self.db.dispose()


def build_services(
    settings: Settings,
    *,
    gateway: Gateway | None = None,
    clock: Callable[[], datetime] = utcnow,
    http: HttpCaller | None = None,
    check_password: PasswordCheck = check_password_hash,
    paced: bool = True,
) -> Services:
    """Build the services from settings; tests pass their own gateway, clock, http caller
    (`bot flows test` answers http steps from its scripts) and password check. A simulation
    on a fake clock (`bot flows test`, `bot chat`) sends unpaced: SEND_RATE is the provider's
    limit, and waiting for it in real time would only make the simulation slow."""
    db = make_db(settings.DATABASE_URL)
    gateway = gateway or build_gateway(settings)
    for rule in settings.sending_rules.overrides:
        # Said at every start: a loosened legal rule must never go unnoticed.
        log.warning(
            "%s: %s overrides a shipped sending rule: %s", rule.where, rule.name, rule.override
        )
    texts = ComplianceTexts(
        brand=settings.BRAND_NAME,
        support=settings.SUPPORT_CONTACT,
        incentive=settings.INCENTIVE,
    )
    vocabulary = load_vocabulary(settings.KEYWORDS_FILE, extra_join=settings.join_keywords)
    actions = build_action_runner(
        action_server_url=settings.ACTION_SERVER_URL, package=settings.ACTIONS_PACKAGE
    )
    registry = FlowRegistry(
        settings.FLOWS_DIR,
        brand=settings.BRAND_NAME,
        vocabulary=vocabulary,
        action_names=_action_names(actions),
        secrets=settings.flow_secrets,
        check_interval=settings.FLOWS_RELOAD_SECONDS,
    )
    flows = FlowHost(
        registry=registry,
        texts=texts,
        actions=actions,
        unexpected_reply=settings.UNEXPECTED_REPLY.strip(),
        http=http or WebCaller(settings.flow_secrets),
        away_after=settings.agent_away_after,
    )
    conversations = ConversationService(
        db=db,
        vocabulary=vocabulary,
        texts=texts,
        flows=flows,
        clock=clock,
        rules=settings.policy_rules,
        public_url=settings.PUBLIC_URL,
        on_stored_event=functools.partial(tell_attributed_order, days=settings.ATTRIBUTION_DAYS),
    )
    conversations.assign = AssignmentRound(db, clock=clock, away_after=settings.agent_away_after)
    return Services(
        settings=settings,
        db=db,
        gateway=gateway,
        texts=texts,
        flows=registry,
        conversations=conversations,
        dispatcher=build_dispatcher(settings, db=db, gateway=gateway, clock=clock, paced=paced),
        replies=saved_replies(settings.FLOWS_DIR),
        labels=file_labels(settings.FLOWS_DIR),
        check_password=check_password,
    )


def _action_names(actions: ActionRunner) -> frozenset[str] | None:
    """The custom actions flows may call; none when the actions package cannot be loaded."""
    try:
        return actions.names()
    except ActionError as error:
        # Flows that call an action will fail their check (and not load); others run on.
        log.warning("custom actions unavailable: %s", error)
        return frozenset()


def build_dispatcher(
    settings: Settings,
    *,
    db: Engine,
    gateway: Gateway,
    clock: Callable[[], datetime] = utcnow,
    paced: bool = True,
) -> Dispatcher:
    """The outbox dispatcher: paced to SEND_RATE (unless not `paced`), retrying for
    SEND_RETRY_WINDOW, holding texts for the sending hours they reach."""
    if "SEND_MAX_ATTEMPTS" in settings.model_fields_set:
        log.warning(
            "SEND_MAX_ATTEMPTS is deprecated and no longer fails texts early: a text the"
            " provider keeps failing is retried for SEND_RETRY_WINDOW (%s); remove the setting",
            format_duration(settings.SEND_RETRY_WINDOW),
        )
    stopping = threading.Event()  # set by Services.close: waits for the pace end at once
    # REST sends need an absolute callback URL; without PUBLIC_URL, Twilio reports nothing.
    status_url = f"{settings.PUBLIC_URL}{STATUS_CALLBACK_PATH}" if settings.PUBLIC_URL else None
    return Dispatcher(
        db=db,
        gateway=gateway,
        status_callback_url=status_url,
        pacer=build_pace(settings, db=db, gateway=gateway, stopping=stopping) if paced else None,
        stopping=stopping,
        retry_window=settings.SEND_RETRY_WINDOW,
        clock=clock,
        rules=settings.policy_rules,
    )


def build_pace(
    settings: Settings, *, db: Engine, gateway: Gateway, stopping: threading.Event | None = None
) -> Pace:
    """SEND_RATE for the sender, shared by every worker through PACE_STORE (README, "Running in
    production"), or this process's own bucket with PACE_STORE=process. Its waits end, raising
    PaceStopped, once `stopping` is set."""
    sleep = time.sleep if stopping is None else sleep_unless_stopping(stopping)
    store = settings.pace_store
    # HEADROOM below the limit, shared or not: a text may leave up to LATE_TOLERANCE_US after
    # its slot without moving the pace on, and the headroom keeps that within the rate.
    rate = below_the_limit(settings.SEND_RATE)
    if store is PaceStore.PROCESS:
        return Pacer(rate, clock=time.monotonic, sleep=sleep)
    # One bucket per sender: workers sending from different numbers do not slow each other.
    sender = settings.TWILIO_MESSAGING_SERVICE_SID or settings.TWILIO_FROM or gateway.name
    if store is PaceStore.REDIS:
        import redis  # only deployments that pace through Redis load its client

        assert settings.REDIS_URL  # the settings refuse PACE_STORE=redis without it
        bucket: DatabaseBucket | RedisBucket = RedisBucket(
            redis.Redis.from_url(settings.REDIS_URL), sender
        )
    else:
        bucket = DatabaseBucket(db, sender)
    return SharedPace(bucket, rate=rate, sleep=sleep)


def build_webhook_sender(
    settings: Settings, *, db: Engine, clock: Callable[[], datetime] = utcnow
) -> WebhookSender:
    """The outbound webhooks' worker: WEBHOOK_URL and FLOWS_DIR/webhooks.yaml's endpoints
    (the file is read again when it changes), retried for WEBHOOK_RETRY_WINDOW."""
    endpoints = EndpointSource(
        settings.FLOWS_DIR,
        webhook_url=settings.WEBHOOK_URL,
        webhook_secret=settings.WEBHOOK_SECRET,
    )
    return WebhookSender(
        db=db,
        endpoints=endpoints.current,
        clock=clock,
        retry_window=settings.WEBHOOK_RETRY_WINDOW,
    )


def build_gateway(settings: Settings) -> Gateway:
    """The console gateway until Twilio credentials are set (or GATEWAY says otherwise)."""
    if settings.GATEWAY is GatewayName.TWILIO:
        assert settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN
        return TwilioGateway(
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
            from_number=settings.TWILIO_FROM,
            messaging_service_sid=settings.TWILIO_MESSAGING_SERVICE_SID,
            api_base_url=settings.TWILIO_API_URL,
        )
    return ConsoleGateway()
