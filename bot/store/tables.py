"""The tables as SQLAlchemy Core sees them: one name per table, for every module's queries.

The models in `bot.store.models` declare them (SQLModel); the queries are Core, over these.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from sqlalchemy import Column, Row, Select, Table, inspect
from sqlalchemy.orm import Mapper

from bot.store.models import (
    Agent,
    AgentChat,
    AgentSession,
    Answer,
    Assignment,
    CampaignSend,
    Click,
    ConsentEvent,
    Conversation,
    ConversationLabel,
    ConversationNote,
    Event,
    IssuedOnce,
    Label,
    Link,
    LoginAttempt,
    Message,
    NoteMention,
    SendPace,
    Setting,
    ShopifyWebhook,
    SignupAttempt,
    StepVisit,
    Subscriber,
    UnansweredText,
    WebhookDelivery,
    WebhookEvent,
)

# A row, or a select, of any columns: SQLAlchemy 2.1 types them by their columns' types, and
# columns reached through these tables are untyped, so a function that takes "a row of
# MESSAGES" says so with these.
AnyRow: TypeAlias = Row[*tuple[Any, ...]]
AnySelect: TypeAlias = Select[*tuple[Any, ...]]


def max_length(column: Column[Any]) -> int:
    """The most characters a text column holds (its `Field(max_length=...)`)."""
    # SQLModel's AutoString decorates a String and passes `length` through, untyped.
    length = getattr(column.type, "length", None)
    if not isinstance(length, int):
        raise TypeError(f"{column} is not a text column of bounded length")
    return length


def _table_of(model: type) -> Table:
    mapper: Mapper[Any] = inspect(model)  # SQLModel leaves `__table__` untyped; its mapper's
    table = mapper.local_table
    assert isinstance(table, Table)
    return table


AGENTS = _table_of(Agent)
AGENT_SESSIONS = _table_of(AgentSession)
ASSIGNMENTS = _table_of(Assignment)
AGENT_CHATS = _table_of(AgentChat)
ANSWERS = _table_of(Answer)
CAMPAIGN_SENDS = _table_of(CampaignSend)
CLICKS = _table_of(Click)
CONSENT_EVENTS = _table_of(ConsentEvent)
CONVERSATIONS = _table_of(Conversation)
CONVERSATION_LABELS = _table_of(ConversationLabel)
CONVERSATION_NOTES = _table_of(ConversationNote)
EVENTS = _table_of(Event)
ISSUED_ONCE = _table_of(IssuedOnce)
LABELS = _table_of(Label)
LINKS = _table_of(Link)
LOGIN_ATTEMPTS = _table_of(LoginAttempt)
MESSAGES = _table_of(Message)
NOTE_MENTIONS = _table_of(NoteMention)
SEND_PACES = _table_of(SendPace)
SETTINGS = _table_of(Setting)
SHOPIFY_WEBHOOKS = _table_of(ShopifyWebhook)
SIGNUP_ATTEMPTS = _table_of(SignupAttempt)
STEP_VISITS = _table_of(StepVisit)
SUBSCRIBERS = _table_of(Subscriber)
UNANSWERED_TEXTS = _table_of(UnansweredText)
WEBHOOK_DELIVERIES = _table_of(WebhookDelivery)
WEBHOOK_EVENTS = _table_of(WebhookEvent)
