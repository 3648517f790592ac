"""The tables as SQLAlchemy Core sees them: one name per table, for every module's queries.

The models in `bot.store.models` declare them (SQLModel); the queries are Core, over these.
"""

from __future__ import annotations

from sqlalchemy import Table

from bot.store.models import (
    Agent,
    AgentSession,
    Answer,
    CampaignSend,
    Click,
    ConsentEvent,
    Conversation,
    Event,
    Link,
    LoginAttempt,
    Message,
    Setting,
    StepVisit,
    Subscriber,
    UnansweredText,
)


def _table_of(model: type) -> Table:
    table = model.__table__  # type: ignore[attr-defined]  # SQLModel leaves it untyped
    assert isinstance(table, Table)
    return table


AGENTS = _table_of(Agent)
AGENT_SESSIONS = _table_of(AgentSession)
ANSWERS = _table_of(Answer)
CAMPAIGN_SENDS = _table_of(CampaignSend)
CLICKS = _table_of(Click)
CONSENT_EVENTS = _table_of(ConsentEvent)
CONVERSATIONS = _table_of(Conversation)
EVENTS = _table_of(Event)
LINKS = _table_of(Link)
LOGIN_ATTEMPTS = _table_of(LoginAttempt)
MESSAGES = _table_of(Message)
SETTINGS = _table_of(Setting)
STEP_VISITS = _table_of(StepVisit)
SUBSCRIBERS = _table_of(Subscriber)
UNANSWERED_TEXTS = _table_of(UnansweredText)
