"""Tables. Schema changes go through Alembic (`alembic/versions`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    Text,
    TypeDecorator,
    literal_column,
    text,
)
from sqlalchemy import Enum as SqlEnum
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Field, SQLModel
from sqlmodel.main import SQLModelConfig

from bot.domain.vocabulary import (
    CampaignSendStatus,
    ConsentKind,
    ConversationStatus,
    Delivery,
    DeliveryStatus,
    Direction,
    HandledBy,
    MessageStatus,
    Purpose,
    ShopifyWebhookStatus,
    SubscriberStatus,
)

# The id of a table that grows with traffic (texts, events, clicks …): 64 bits, so it never runs
# out. SQLite's INTEGER PRIMARY KEY is already 64-bit and must stay spelt INTEGER to remain the
# rowid; PostgreSQL needs BIGINT. Columns that point at such an id use the same type.
ROW_ID = BigInteger().with_variant(Integer(), "sqlite")
MAX_ROW_ID = 2**63 - 1  # the largest id such a column holds


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no offset, so we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware one (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    # On SQLite a timestamp is text. SQLAlchemy formats and parses it in Python, through two
    # layers of processors, a dozen times per webhook turn; datetime's own C isoformat and
    # fromisoformat write and read the very same text (tests/database/test_timestamps.py) in one
    # step.
    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return _sqlite_text_of
        return super().bind_processor(dialect)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name == "sqlite":
            return _sqlite_timestamp_of
        return super().result_processor(dialect, coltype)


def _sqlite_text_of(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime: pass an aware one (UTC)")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_timestamp_of(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _timestamp(**kwargs: Any) -> Any:
    return Field(sa_column=Column(UtcDateTime(), **kwargs))


def _when_status(name: str, *columns: str, status: str, unique: bool = False) -> Index:
    """A partial index over the rows in one status (both SQLite and PostgreSQL have them).

    Compare a status with `status_is`, `status_is_not` or `status_in`, never with a bound value."""
    condition = text(f"status = '{status}'")
    return Index(name, *columns, unique=unique, sqlite_where=condition, postgresql_where=condition)


_PLAIN_VALUE = re.compile(r"[a-z][a-z_]*")


def status_is(column: ColumnElement[Any], status: StrEnum) -> ColumnElement[bool]:
    """`column = 'value'`: the status written into the SQL as its column stores it, not bound.

    Where a table has partial indexes by status, a bound status costs at every execution:
    SQLite looks at the bound value to decide whether the index applies, so it prepares the
    statement again each time it is run with a value (3-4 times the cost of a small read), and
    PostgreSQL's generic plan, which cannot know the value, cannot use the index at all.
    Raises ValueError for a status the column cannot hold (binding would have said so too).
    """
    return column == _written(column, status)


def status_is_not(column: ColumnElement[Any], status: StrEnum) -> ColumnElement[bool]:
    """`column != 'value'`, written in as `status_is` writes it."""
    return column != _written(column, status)


def status_in(column: ColumnElement[Any], statuses: Iterable[StrEnum]) -> ColumnElement[bool]:
    """`column IN ('value', …)`, each written in as `status_is` writes it."""
    return column.in_([_written(column, status) for status in statuses])


def _written(column: ColumnElement[Any], status: StrEnum) -> ColumnElement[str]:
    value = status.value if isinstance(status, StrEnum) else None
    if value not in getattr(column.type, "enums", ()):
        raise ValueError(f"{status!r} is not a status {column} can hold")
    if not _PLAIN_VALUE.fullmatch(value):  # written into SQL: only a plain word may be
        raise ValueError(f"{value!r} is not a plain lower-case status")
    return literal_column(f"'{value}'")


def _enum(enum_class: type[StrEnum], length: int, **kwargs: Any) -> Any:
    # Stored as its value in a VARCHAR (not a native enum type), so adding a member later needs
    # no migration on PostgreSQL.
    column_type = SqlEnum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )
    return Field(sa_column=Column(column_type, **kwargs))


class TableModel(SQLModel):
    """Every table's base: pydantic builds a table's validator when one is first used, not when
    the class is made (most processes never validate a row)."""

    model_config = SQLModelConfig(defer_build=True)


class Subscriber(TableModel, table=True):
    """A phone number we talk to, keyed by its E.164 form."""

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(max_length=20, unique=True, index=True)
    status: SubscriberStatus = _enum(
        SubscriberStatus, 16, nullable=False, default=SubscriberStatus.NEW
    )
    first_name: str | None = Field(default=None, max_length=100)
    timezone: str | None = Field(default=None, max_length=64)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The address the person gave a flow's `expect: email` question (their latest), if any.
    email: str | None = Field(default=None, max_length=254)
    created_at: datetime = _timestamp(nullable=False)
    updated_at: datetime = _timestamp(nullable=False)


class ConsentEvent(TableModel, table=True):
    """One entry of the append-only consent ledger: who said what, where and when."""

    __tablename__ = "consent_event"

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True)
    phone: str = Field(max_length=20)
    kind: ConsentKind = _enum(ConsentKind, 20, nullable=False)
    # sms, web, api, carrier, twilio-advanced-opt-out, agent:<email> (an agent recorded it) …
    source: str = Field(max_length=300)
    keyword: str | None = Field(default=None, max_length=40)
    # The exact words the person saw (a web form's consent text) or sent (their text).
    text: str | None = Field(default=None, sa_column=Column(Text))
    message_id: int | None = Field(default=None, foreign_key="message.id", sa_type=ROW_ID)
    created_at: datetime = _timestamp(nullable=False)


class Message(TableModel, table=True):
    """Every text in and out, with its fate."""

    __table_args__ = (
        _when_status("ix_message_outbox", "send_after", status="pending"),
        _when_status(
            "ix_message_fate_unknown", "updated_at", status="unknown"
        ),  # what reconciliation looks for, without scanning every message,
        # One text of a campaign per person: the database itself refuses a second (re-runs and
        # two senders at once are safe).
        Index(
            "ux_message_campaign_phone",
            "campaign",
            "phone",
            unique=True,
            sqlite_where=text("campaign IS NOT NULL"),
            postgresql_where=text("campaign IS NOT NULL"),
        ),
        # One text per id an API client gave (POST /api/messages): the database itself refuses
        # a second, so two requests with one id at once queue one text.
        Index(
            "ux_message_external_id",
            "external_id",
            unique=True,
            sqlite_where=text("external_id IS NOT NULL"),
            postgresql_where=text("external_id IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    phone: str = Field(max_length=20, index=True)  # the customer's number, whichever direction
    direction: Direction = _enum(Direction, 8, nullable=False)
    body: str = Field(sa_column=Column(Text, nullable=False))
    media_urls: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    segments: int = 1
    encoding: str = Field(default="GSM-7", max_length=8)
    status: MessageStatus = _enum(MessageStatus, 12, nullable=False)
    purpose: Purpose | None = _enum(Purpose, 16, nullable=True)
    delivery: Delivery | None = _enum(Delivery, 8, nullable=True)
    provider_sid: str | None = Field(default=None, max_length=64, unique=True)
    in_reply_to_id: int | None = Field(default=None, foreign_key="message.id", sa_type=ROW_ID)
    error_code: int | None = None
    error_message: str | None = Field(default=None, max_length=500)
    flow: str | None = Field(default=None, max_length=64)  # the flow that sent it, if any
    campaign: str | None = Field(default=None, max_length=64)  # the campaign that sent it
    variant: str | None = Field(default=None, max_length=64)  # and which of its variants
    agent_id: int | None = Field(default=None, foreign_key="agent.id")  # the agent who wrote it
    # The outbox: a pending row is sent at send_after at the earliest (quiet hours, caps,
    # retries); attempts counts hand-overs that failed in a way worth retrying.
    send_after: datetime | None = _timestamp(nullable=True)
    attempts: int = 0
    # When the provider first failed it in a way worth retrying (or an outage began while it
    # waited): it is retried until SEND_RETRY_WINDOW after this, then marked failed.
    retrying_since: datetime | None = _timestamp(nullable=True)
    claimed_by: str | None = Field(default=None, max_length=64)  # the dispatcher sending it
    sent_at: datetime | None = _timestamp(nullable=True)  # handed to the provider
    # Stamped by the last consent check, just before the gateway call: while the text is still
    # UNKNOWN with this stamp, a STOP to its number waits for the provider's answer.
    handed_over_at: datetime | None = _timestamp(nullable=True)
    # A text an API client asked for: the client's id for it, and what the send policy decided
    # when it was queued (its own column: status, send_after and error_message move on later),
    # which a retry with the same id is answered with.
    external_id: str | None = Field(default=None, max_length=128)
    decision: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = _timestamp(nullable=False)
    updated_at: datetime = _timestamp(nullable=False)


class CampaignSend(TableModel, table=True):
    """A campaign being sent: its progress, and the pause flag the sender checks."""

    __tablename__ = "campaign_send"

    id: int | None = Field(default=None, primary_key=True)
    campaign: str = Field(max_length=64, unique=True)
    status: CampaignSendStatus = _enum(CampaignSendStatus, 8, nullable=False)
    recipients: int = 0  # people in the segment when the last run finished
    queued: int = 0  # campaign texts in the outbox (every run's)
    started_at: datetime = _timestamp(nullable=False)
    finished_at: datetime | None = _timestamp(nullable=True)
    # A test split's timer: the clock picks the winner once decide_at comes due, and keeps
    # the decision (which, why, the numbers) with when it was taken.
    decide_at: datetime | None = _timestamp(nullable=True)
    decision: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    decided_at: datetime | None = _timestamp(nullable=True)


class Conversation(TableModel, table=True):
    """A subscriber's run through one flow; at most one is active per subscriber."""

    __table_args__ = (
        _when_status("ux_conversation_one_active", "subscriber_id", status="active", unique=True),
        _when_status("ix_conversation_active_expiry", "expires_at", status="active"),
        _when_status("ix_conversation_active_wake", "wakes_at", status="active"),
        # The chats agents hold, by when the agent last acted: the clock asks every wake.
        _when_status(
            "ix_conversation_active_handler", "handled_by", "agent_active_at", status="active"
        ),
        # When a flow last started for a person (a trigger's `restart` rule), from the index.
        Index("ix_conversation_subscriber_flow", "subscriber_id", "flow", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    subscriber_id: int = Field(foreign_key="subscriber.id")
    phone: str = Field(max_length=20)
    flow: str = Field(max_length=64, index=True)
    flow_version: str = Field(max_length=16)
    step: str | None = Field(default=None, max_length=64)
    state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: ConversationStatus = _enum(ConversationStatus, 8, nullable=False)
    handled_by: HandledBy = _enum(HandledBy, 20, nullable=False, default=HandledBy.BOT)
    # Takeover: who has the chat, why a human was asked for, when the agent last acted.
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    handoff_reason: str | None = Field(default=None, max_length=120)
    agent_active_at: datetime | None = _timestamp(nullable=True)
    end_reason: str | None = Field(default=None, max_length=80)
    # When an unanswered flow gives up: kept here, not as a timer row, because it moves on every
    # turn and a column update rides along with the state update for free.
    expires_at: datetime | None = _timestamp(nullable=True)
    # The flow's timer: a paused flow waits at one step, so it has at most one (a `wait`, or a
    # question's `timeout`). Kept on the row for the same reason as the expiry: setting,
    # moving or dropping it rides along with the turn's own update, and it cannot outlive
    # the conversation. The clock claims rows whose wakes_at came due.
    wakes_at: datetime | None = _timestamp(nullable=True)
    wake_kind: str | None = Field(default=None, max_length=16)
    started_at: datetime = _timestamp(nullable=False)
    updated_at: datetime = _timestamp(nullable=False)
    ended_at: datetime | None = _timestamp(nullable=True)


_QUEUED = "handled_at IS NULL AND opted_out_at IS NULL"


class UnansweredText(TableModel, table=True):
    """A text no step could take, with where the person stood: the agents' queue.

    Its own row, not a conversation: the person may be in the middle of a flow (a welcome
    series waiting a day), and that flow's conversation goes on untouched beside it.
    """

    __tablename__ = "unanswered_text"
    __table_args__ = (
        # The queue, and "has this person an open one?" (one acknowledgement per open item).
        Index(
            "ix_unanswered_text_open",
            "subscriber_id",
            sqlite_where=text("handled_at IS NULL"),
            postgresql_where=text("handled_at IS NULL"),
        ),
        # What an assignment round may give out: open, from someone not opted out now.
        Index(
            "ix_unanswered_text_queue",
            "subscriber_id",
            sqlite_where=text(_QUEUED),
            postgresql_where=text(_QUEUED),
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    message_id: int = Field(
        foreign_key="message.id", sa_type=ROW_ID, unique=True
    )  # the text itself
    subscriber_id: int = Field(foreign_key="subscriber.id")
    phone: str = Field(max_length=20)
    # Where the person stood: the flow and step they were in (or had just left), and why the
    # bot could not answer, in words an agent reads ("welcome was waiting at wait_a_day").
    flow: str | None = Field(default=None, max_length=64)
    step: str | None = Field(default=None, max_length=64)
    context: str = Field(max_length=160)
    acknowledgement_id: int | None = Field(default=None, foreign_key="message.id", sa_type=ROW_ID)
    created_at: datetime = _timestamp(nullable=False)
    # Handled: an agent replied, took the chat over or marked it done.
    handled_at: datetime | None = _timestamp(nullable=True)
    handled_by: int | None = Field(default=None, foreign_key="agent.id")
    outcome: str | None = Field(default=None, max_length=80)
    # Set while its sender is opted out (since when): the inbox still lists it, but rounds read
    # the queue by an index that leaves it out, so that questions of people who stopped never
    # pile up in every round's path. Joining again clears it: the text waits again.
    opted_out_at: datetime | None = _timestamp(nullable=True)


class AgentChat(TableModel, table=True):
    """A person's time with the agents: queued, taken, first answered, handed back.

    The raw material of the reports (`bot/conversations/reports.py`): a row opens when a text
    or a flow's handoff puts the person in the queue (or an agent takes a chat nobody queued),
    and closes when the chat goes back to the bot or the queue item is marked done.
    """

    __tablename__ = "agent_chat"
    __table_args__ = (
        # A person's open chat: at most one at a time, found by their id.
        Index(
            "ix_agent_chat_open",
            "subscriber_id",
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    subscriber_id: int = Field(foreign_key="subscriber.id")
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id", sa_type=ROW_ID)
    # When the person started waiting for a human; None for a chat taken before it was queued.
    queued_at: datetime | None = _timestamp(nullable=True, index=True)
    agent_id: int | None = Field(default=None, foreign_key="agent.id")  # who took or answered it
    taken_at: datetime | None = _timestamp(nullable=True)
    first_reply_at: datetime | None = _timestamp(nullable=True)  # the agent's first text
    closed_at: datetime | None = _timestamp(nullable=True)
    outcome: str | None = Field(default=None, max_length=40)  # handed back, released idle …
    # The rating question (flows/csat.yaml) asked on hand-back: its answer is this agent's.
    csat_conversation_id: int | None = Field(
        default=None, foreign_key="conversation.id", sa_type=ROW_ID
    )


class Answer(TableModel, table=True):
    """A validated answer to a flow's question."""

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    conversation_id: int = Field(foreign_key="conversation.id", sa_type=ROW_ID, index=True)
    subscriber_id: int = Field(foreign_key="subscriber.id")
    phone: str = Field(max_length=20)
    flow: str = Field(max_length=64, index=True)
    step: str = Field(max_length=64)
    name: str = Field(max_length=64)
    value: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = _timestamp(nullable=False)


class StepVisit(TableModel, table=True):
    """A conversation reached a step: the raw material of a flow's funnel."""

    __tablename__ = "step_visit"

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    conversation_id: int = Field(foreign_key="conversation.id", sa_type=ROW_ID, index=True)
    flow: str = Field(max_length=64, index=True)
    step: str = Field(max_length=64)
    created_at: datetime = _timestamp(nullable=False)


class IssuedOnce(TableModel, table=True):
    """Something a person gets once in their life (a welcome coupon): one row per person and key.

    The unique pair is the guarantee: two turns that both try to issue it (two confirmations
    at once, a rejoin) cannot both insert, whatever they read before.
    """

    __tablename__ = "issued_once"
    __table_args__ = (Index("ux_issued_once_person_key", "subscriber_id", "key", unique=True),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    subscriber_id: int = Field(foreign_key="subscriber.id")
    key: str = Field(max_length=140)  # the action's name: action_issue_coupon
    issued_at: datetime = _timestamp(nullable=False)


class Event(TableModel, table=True):
    """Something the brand's systems reported (cart_abandoned, order_placed …), kept as sent."""

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    external_id: str | None = Field(default=None, max_length=128, unique=True)  # idempotency
    type: str = Field(max_length=64, index=True)
    phone: str = Field(max_length=20, index=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    received_at: datetime = _timestamp(nullable=False)


class Agent(TableModel, table=True):
    """A support agent who can log in to the inbox."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    name: str = Field(max_length=100)
    password_hash: str = Field(max_length=255)  # a salted KDF hash (werkzeug's scrypt)
    is_admin: bool = False
    disabled: bool = False
    created_at: datetime = _timestamp(nullable=False)
    last_login_at: datetime | None = _timestamp(nullable=True)
    # Assignment (bot/conversations/assignment.py): the agent's own toggle, how many open chats
    # an admin lets round robin give them, and when it last gave them one (ties go to the
    # agent who waited longest).
    available: bool = False
    capacity: int = 5
    last_assigned_at: datetime | None = _timestamp(nullable=True)
    # Notifications the agent opted in to (bot/static/notify.js): a browser notification and a
    # beep when a chat is assigned to them or a colleague mentions them. Off until they ask.
    notify_desktop: bool = False
    notify_sound: bool = False


class Assignment(TableModel, table=True):
    """Who on the team answers a person who needs a human: one row while they need one.

    Keyed by the person, not a conversation: their queue item may be a flow's handoff, texts
    no step could take, or both. The row goes when nothing of theirs waits for a human.
    """

    subscriber_id: int = Field(foreign_key="subscriber.id", primary_key=True)
    agent_id: int = Field(foreign_key="agent.id", index=True)
    by_hand: bool = False  # a colleague chose this agent: it stays while they are away
    assigned_at: datetime = _timestamp(nullable=False)


class LoginAttempt(TableModel, table=True):
    """A failed login, kept briefly to slow down password guessing (per email and per address)."""

    __tablename__ = "login_attempt"

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    email: str = Field(max_length=254, index=True)
    remote_addr: str = Field(max_length=64, index=True)
    created_at: datetime = _timestamp(nullable=False, index=True)


class SignupAttempt(TableModel, table=True):
    """A sign-up on the public page, kept briefly to limit sign-ups per address and per number."""

    __tablename__ = "signup_attempt"

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    remote_addr: str = Field(max_length=64, index=True)
    phone: str = Field(max_length=20, index=True)
    created_at: datetime = _timestamp(nullable=False, index=True)


class AgentSession(TableModel, table=True):
    """An agent logged in on one browser; the cookie holds a token, the row only its hash."""

    __tablename__ = "agent_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)  # sha256 hex of the token
    agent_id: int = Field(foreign_key="agent.id", index=True)
    created_at: datetime = _timestamp(nullable=False)
    last_seen_at: datetime = _timestamp(nullable=False)  # refreshed at most once a minute
    expires_at: datetime = _timestamp(nullable=False)  # the absolute end, however active
    ended_at: datetime | None = _timestamp(nullable=True)
    end_reason: str | None = Field(default=None, max_length=32)
    user_agent: str | None = Field(default=None, max_length=255)
    remote_addr: str = Field(max_length=64)


class Setting(TableModel, table=True):
    """A value every process of a deployment shares, such as the generated SECRET_KEY."""

    name: str = Field(max_length=64, primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))


class SendPace(TableModel, table=True):
    """A sender's token bucket, shared by every worker: the moment it is next free.

    Whole microseconds since the epoch on the injected clock (sums of whole numbers are exact),
    moved on atomically by each hand-over's reservation.
    """

    __tablename__ = "send_pace"

    sender: str = Field(max_length=64, primary_key=True)  # the From number or service SID
    next_free_us: int = Field(sa_column=Column(BigInteger, nullable=False))


class Link(TableModel, table=True):
    """A tracked short link: one recipient's copy of a URL a flow or campaign sent."""

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    code: str = Field(max_length=7, unique=True, index=True)  # the /l/<code> in the text
    url: str = Field(sa_column=Column(Text, nullable=False))  # where the code leads
    phone: str = Field(max_length=20, index=True)
    flow: str | None = Field(default=None, max_length=64)
    campaign: str | None = Field(default=None, max_length=64)
    # The first text with it. Not a foreign key: written with that text, whose row is never
    # deleted, and checking it cost PostgreSQL a look-up and a lock a link (alembic 0032).
    message_id: int | None = Field(default=None, sa_type=ROW_ID)
    created_at: datetime = _timestamp(nullable=False)
    # every counted click (see bot/sending/links.py: repeats and previews do not count)
    clicks: int = 0
    last_clicked_at: datetime | None = _timestamp(nullable=True)  # the last counted click


class Click(TableModel, table=True):
    """A counted click on a tracked link: when, and with what browser, nothing more.

    Bounded per link (bot/sending/links.py): past the bound the newest row moves forward instead.
    """

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    link_id: int = Field(foreign_key="link.id", sa_type=ROW_ID, index=True)
    clicked_at: datetime = _timestamp(nullable=False)
    user_agent: str | None = Field(default=None, max_length=255)


class ShopifyWebhook(TableModel, table=True):
    """A webhook Shopify delivered, kept once per X-Shopify-Webhook-Id (`bot.shopify`).

    Stored before Shopify is answered; its work is done after the answer, and retried from this
    row (`next_attempt_at`) if the process doing it dies or fails. The body holds the shop's
    data about a person, so it is kept only until the work is done.
    """

    __tablename__ = "shopify_webhook"
    __table_args__ = (_when_status("ix_shopify_webhook_due", "next_attempt_at", status="pending"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    webhook_id: str = Field(max_length=128, unique=True)  # a retry by Shopify repeats it
    topic: str = Field(max_length=64)
    shop_domain: str | None = Field(default=None, max_length=255)
    status: ShopifyWebhookStatus = _enum(ShopifyWebhookStatus, 8, nullable=False)
    outcome: str | None = Field(default=None, max_length=500)  # what was done, or why not
    phone: str | None = Field(default=None, max_length=20, index=True)  # whom it was about
    # The checkout a checkouts/* or orders/create webhook is about: an order that came first
    # keeps a late checkout from starting reminders.
    checkout_token: str | None = Field(default=None, max_length=128, index=True)
    body: str | None = Field(default=None, sa_column=Column(Text))  # as sent, until handled
    attempts: int = 0
    next_attempt_at: datetime | None = _timestamp(nullable=True)  # when a pending one is retried
    received_at: datetime = _timestamp(nullable=False)
    handled_at: datetime | None = _timestamp(nullable=True)


class WebhookEvent(TableModel, table=True):
    """Something outbound webhooks tell, written in the transaction of the change it tells of.

    The worker routes it to the endpoints that want its type (a `webhook_delivery` row each)
    and deletes it when none does; `routed_at` is None until then.
    """

    __tablename__ = "webhook_event"
    __table_args__ = (
        # Events not routed yet are a handful at any moment, however many were ever recorded:
        # what the worker routes next, oldest first …
        Index(
            "ix_webhook_event_unrouted",
            "id",
            sqlite_where=text("routed_at IS NULL"),
            postgresql_where=text("routed_at IS NULL"),
        ),
        # … and whether a person has one before the event a claim would post.
        Index(
            "ix_webhook_event_unrouted_phone",
            "phone",
            "id",
            sqlite_where=text("routed_at IS NULL"),
            postgresql_where=text("routed_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)  # a person's order
    public_id: str = Field(max_length=40, unique=True)  # the body's "id": evt_…
    type: str = Field(max_length=40)
    phone: str = Field(max_length=20, index=True)  # whose event: deliveries keep their order
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _timestamp(nullable=False)
    routed_at: datetime | None = _timestamp(nullable=True)


class WebhookDelivery(TableModel, table=True):
    """One event on its way to one endpoint: posted, retried with backoff, or given up."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        # The pending deliveries, oldest event first (what a claim looks through) …
        _when_status("ix_webhook_delivery_pending", "event_id", status="pending"),
        # … and a person's queue at an endpoint: does an earlier event of theirs still wait?
        Index(
            "ix_webhook_delivery_queue",
            "endpoint",
            "phone",
            "event_id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ux_webhook_delivery_event_endpoint", "event_id", "endpoint", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    event_id: int = Field(foreign_key="webhook_event.id", sa_type=ROW_ID)
    endpoint: str = Field(max_length=64)  # its name in flows/webhooks.yaml ("default": WEBHOOK_URL)
    phone: str = Field(max_length=20)
    status: DeliveryStatus = _enum(DeliveryStatus, 12, nullable=False)
    attempts: int = 0
    next_attempt_at: datetime | None = _timestamp(nullable=True)  # None: as soon as it is next
    # When the receiver first failed it: it is given up WEBHOOK_RETRY_WINDOW after this.
    retrying_since: datetime | None = _timestamp(nullable=True)
    # The worker posting it, and until when its claim holds (a crashed worker's claim runs out).
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = _timestamp(nullable=True)
    response_status: int | None = None  # the receiver's last HTTP status
    last_error: str | None = Field(default=None, max_length=500)
    delivered_at: datetime | None = _timestamp(nullable=True)
    created_at: datetime = _timestamp(nullable=False)
    updated_at: datetime = _timestamp(nullable=False)


class ConversationNote(TableModel, table=True):
    """An agent's private note on a conversation: shown to agents only, never texted."""

    __tablename__ = "conversation_note"

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    conversation_id: int = Field(foreign_key="conversation.id", sa_type=ROW_ID)
    # The page shows a person's whole history, so their notes are read by person.
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True)
    agent_id: int = Field(foreign_key="agent.id")
    body: str = Field(max_length=2000)
    created_at: datetime = _timestamp(nullable=False)


class NoteMention(TableModel, table=True):
    """A colleague named with `@name` in a note: unread until they mark it read."""

    __tablename__ = "note_mention"
    __table_args__ = (
        Index("ux_note_mention_note_agent", "note_id", "agent_id", unique=True),
        # An agent's unread mentions (the queue page shows them).
        Index(
            "ix_note_mention_unread",
            "agent_id",
            sqlite_where=text("read_at IS NULL"),
            postgresql_where=text("read_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    note_id: int = Field(foreign_key="conversation_note.id", sa_type=ROW_ID)
    agent_id: int = Field(foreign_key="agent.id")  # the agent mentioned
    created_at: datetime = _timestamp(nullable=False)
    read_at: datetime | None = _timestamp(nullable=True)


class Label(TableModel, table=True):
    """A label an admin created in the inbox (the labels file's need no row)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=32, unique=True)
    created_by: int = Field(foreign_key="agent.id")
    created_at: datetime = _timestamp(nullable=False)


class ConversationLabel(TableModel, table=True):
    """A label on a conversation, by name: a label from the file or one an admin created."""

    __tablename__ = "conversation_label"
    __table_args__ = (
        Index("ux_conversation_label", "conversation_id", "label", unique=True),
        Index("ix_conversation_label_label", "label", "conversation_id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    conversation_id: int = Field(foreign_key="conversation.id", sa_type=ROW_ID)
    label: str = Field(max_length=32)
    added_by: int = Field(foreign_key="agent.id")
    added_at: datetime = _timestamp(nullable=False)
