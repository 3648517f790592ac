"""Wires settings into the objects the edges use: engine, gateway, conversation service."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from bot.compliance import ComplianceTexts
from bot.conversation import ConversationService
from bot.db import make_engine
from bot.dispatch import Dispatcher
from bot.gateways.base import Gateway
from bot.gateways.factory import build_gateway
from bot.keywords import load_vocabulary
from bot.settings import Settings
from bot.web.sms import STATUS_CALLBACK_PATH


@dataclass
class Services:
    """Everything a request or a command needs, built once per process."""

    settings: Settings
    engine: Engine
    gateway: Gateway
    texts: ComplianceTexts
    conversations: ConversationService
    dispatcher: Dispatcher


def build_services(settings: Settings, *, gateway: Gateway | None = None) -> Services:
    """Build the services from settings; tests pass their own gateway."""
    engine = make_engine(settings.DATABASE_URL)
    gateway = gateway or build_gateway(settings)
    texts = ComplianceTexts(brand=settings.BRAND_NAME, support=settings.SUPPORT_CONTACT)
    vocabulary = load_vocabulary(settings.KEYWORDS_FILE, extra_join=settings.join_keywords)
    # REST sends need an absolute callback URL; without PUBLIC_URL, Twilio reports nothing.
    status_url = f"{settings.PUBLIC_URL}{STATUS_CALLBACK_PATH}" if settings.PUBLIC_URL else None
    return Services(
        settings=settings,
        engine=engine,
        gateway=gateway,
        texts=texts,
        conversations=ConversationService(engine=engine, vocabulary=vocabulary, texts=texts),
        dispatcher=Dispatcher(engine=engine, gateway=gateway, status_callback_url=status_url),
    )
