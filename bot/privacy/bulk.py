"""Subscribers in bulk: CSV import with consent, export, and a person's record and erasure."""

from __future__ import annotations

import csv
import functools
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.engine import Connection, Engine

from bot.conversations.unanswered import close_open
from bot.domain.moments import parse_moment
from bot.domain.phones import InvalidPhone, normalise_phone
from bot.domain.spreadsheet import restored
from bot.domain.vocabulary import (
    ConsentKind,
    ConversationStatus,
    Direction,
    MessageStatus,
    SubscriberStatus,
    WebhookEventType,
)
from bot.store.agent_chats import chat_closed
from bot.store.db import dialect_insert, transaction
from bot.store.models import status_is
from bot.store.subscribers import SubscriberRow, claim_subscriber
from bot.store.tables import (
    ANSWERS,
    ASSIGNMENTS,
    CONSENT_EVENTS,
    CONVERSATION_LABELS,
    CONVERSATION_NOTES,
    CONVERSATIONS,
    EVENTS,
    MESSAGES,
    NOTE_MENTIONS,
    SHOPIFY_WEBHOOKS,
    SUBSCRIBERS,
    max_length,
)
from bot.store.webhook_events import (
    forget_webhook_events,
    record_webhook_event,
    record_webhook_events,
)

BATCH_ROWS = 1000  # rows per transaction with skip_bad; also the size of IN (…) lookups
ERASED = "[erased]"
ERASURE_SOURCE = "erasure"
TAG_SEPARATOR = ";"
KNOWN_COLUMNS = (
    "phone",
    "first_name",
    "timezone",
    "tags",
    "consent_source",
    "consent_text",
    "consent_at",
)
EXPORT_COLUMNS = (
    "phone",
    "status",
    "first_name",
    "timezone",
    "tags",
    "attributes",
    "created_at",
    "consent_kind",
    "consent_source",
    "consent_at",
)
# Columns of one line: a tab or line break in a name or tag would end up inside a text.
SINGLE_LINE_COLUMNS = ("phone", "first_name", "timezone", "tags", "consent_source", "consent_at")
# C0 controls and DEL no person types; PostgreSQL cannot even store NUL (psycopg raises).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_CONTROL = re.compile("[\x00-\x1f\x7f]")
_SOURCE_MAX = max_length(CONSENT_EVENTS.c.source)
_FIRST_NAME_MAX = 100


@dataclass(frozen=True)
class Refusal:
    """A row that was not imported: where, which column, and why."""

    line: int
    column: str
    message: str


@dataclass
class ImportReport:
    """What an import did. imported + merged + len(refused) is the number of data rows."""

    source_name: str
    imported: int = 0  # rows that created a new subscriber
    merged: int = 0  # rows folded into a subscriber already stored or earlier in the file
    refused: list[Refusal] = field(default_factory=list)
    written: bool = False  # False: all-or-nothing found refusals, nothing was stored

    def lines(self) -> list[str]:
        """Each refusal as `FILE:LINE: column: message`, in line order."""
        ordered = sorted(self.refused, key=lambda refusal: (refusal.line, refusal.column))
        return [f"{self.source_name}:{r.line}: {r.column}: {r.message}" for r in ordered]


class ImportRaced(Exception):
    """Numbers were created by someone else while the import ran; nothing of it was kept."""

    def __init__(self, phones: list[str]) -> None:
        super().__init__(
            f"{len(phones)} numbers (first {phones[0]}) were created while the import ran; "
            "run it again"
        )


@dataclass
class _Row:
    line: int
    phone: str
    first_name: str | None
    timezone: str | None
    tags: list[str]
    attributes: dict[str, str]
    consent_source: str
    consent_text: str
    consent_at: datetime


def import_subscribers(
    db: Engine,
    reader: csv.DictReader[str],
    *,
    default_region: str,
    now: datetime,
    source_name: str,
    skip_bad: bool = False,
) -> ImportReport:
    """Import CSV rows as consented subscribers; all or nothing unless `skip_bad`.

    Refusals name the line a row starts on, also after a quoted cell that spans lines. A bad
    header (the file's column names) refuses the whole file, `skip_bad` or not.
    """
    report = ImportReport(source_name)
    report.refused.extend(header_refusals(reader.fieldnames or ()))
    if report.refused:
        return report
    good: list[_Row] = []
    for line, raw in numbered_rows(reader):
        parsed = _parse_row(line, raw, default_region, now)
        if isinstance(parsed, _Row):
            good.append(parsed)
        else:
            report.refused.extend(parsed)
    if not skip_bad:
        with transaction(db) as connection:
            _import_batch(connection, good, now, report, all_or_nothing=True)
        report.written = not report.refused
        if not report.written:
            report.imported = report.merged = 0
        return report
    for batch in _batches_by_phone(good):
        with transaction(db) as connection:
            _import_batch(connection, batch, now, report, all_or_nothing=False)
    report.written = True
    return report


def numbered_rows(reader: csv.DictReader[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Each row with the line of the file it starts on (a quoted cell may span lines).

    The reader knows the line a row ends on; the line breaks inside its quoted cells say how
    many lines earlier it began (blank lines before it, which the reader skips, do not count).
    """
    for row in reader:
        cells = [
            cell
            for value in row.values()
            for cell in (value if isinstance(value, list) else [value])
            if isinstance(cell, str)
        ]
        yield reader.line_num - sum(cell.count("\n") for cell in cells), row


def header_refusals(header: Sequence[str]) -> list[Refusal]:
    """What is wrong with a file's column names (line 1): a name twice, a control character."""
    refusals: list[Refusal] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(header, start=1):
        name = raw.strip()
        problem = _cell_problem(name, single_line=True)
        if problem:
            refusals.append(Refusal(1, repr(name), f"the column name {problem}"))
            continue
        first = seen.setdefault(name.lower(), number)
        if first != number:
            refusals.append(
                Refusal(1, name, f"is both column {first} and column {number}; keep one")
            )
    return refusals


def _cell_problem(value: str, *, single_line: bool) -> str | None:
    """Why a cell cannot be stored as it is, or None."""
    if "\x00" in value:
        return "contains a NUL byte"
    found = (_LINE_CONTROL if single_line else _CONTROL).search(value)
    if found is None:
        return None
    return f"contains the control character U+{ord(found.group()):04X}"


def _parse_row(
    line: int, raw: dict[str, Any], default_region: str, now: datetime
) -> _Row | list[Refusal]:
    values: dict[str, str] = {}
    refusals: list[Refusal] = []
    for key, value in raw.items():
        if key is None:  # csv.DictReader puts surplus fields under None
            refusals.append(Refusal(line, "row", "more fields than the header has columns"))
            continue
        # A value an export made inert ('=…) is imported as it was before the export.
        cell = restored((value or "").strip() if isinstance(value, str) else "")
        column = key.strip()
        problem = _cell_problem(cell, single_line=column.lower() in SINGLE_LINE_COLUMNS)
        if problem:
            refusals.append(Refusal(line, column, problem))
        values[column] = cell
    if refusals:
        return refusals
    known = {name.lower(): value for name, value in values.items()}

    phone = ""
    try:
        phone = normalise_phone(known.get("phone", ""), default_region)
    except InvalidPhone as error:
        refusals.append(Refusal(line, "phone", str(error)))

    missing = [name for name in ("consent_source", "consent_text") if not known.get(name)]
    if missing:
        refusals.append(
            Refusal(
                line,
                missing[0],
                "no consent: consent_source and consent_text are required for every number",
            )
        )
    source = known.get("consent_source", "")
    if len(source) > _SOURCE_MAX:
        refusals.append(Refusal(line, "consent_source", f"longer than {_SOURCE_MAX} characters"))

    first_name = known.get("first_name") or None
    if first_name and len(first_name) > _FIRST_NAME_MAX:
        refusals.append(Refusal(line, "first_name", f"longer than {_FIRST_NAME_MAX} characters"))

    timezone = known.get("timezone") or None
    if timezone and not _is_timezone(timezone):
        refusals.append(
            Refusal(line, "timezone", f"{timezone!r} is not an IANA time zone (America/Chicago)")
        )

    consent_at = now
    if known.get("consent_at"):
        try:
            consent_at = parse_moment(known["consent_at"])
        except ValueError:
            refusals.append(
                Refusal(
                    line,
                    "consent_at",
                    f"{known['consent_at']!r} is not an ISO date or time (2025-03-01T14:30:00Z)",
                )
            )
        else:
            if consent_at > now:
                refusals.append(Refusal(line, "consent_at", "is in the future"))

    if refusals:
        return refusals
    tags = list(dict.fromkeys(t.strip() for t in known.get("tags", "").split(TAG_SEPARATOR)))
    return _Row(
        line=line,
        phone=phone,
        first_name=first_name,
        timezone=timezone,
        tags=[tag for tag in tags if tag],
        attributes={
            name: value
            for name, value in values.items()
            if name.lower() not in KNOWN_COLUMNS and value != ""
        },
        consent_source=source,
        consent_text=known["consent_text"],
        consent_at=consent_at,
    )


@functools.lru_cache(maxsize=1024)
def _is_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _batches_by_phone(rows: list[_Row]) -> Iterator[list[_Row]]:
    """About BATCH_ROWS rows at a time, never splitting one number's rows between batches."""
    by_phone: dict[str, list[_Row]] = {}
    for row in rows:
        by_phone.setdefault(row.phone, []).append(row)
    batch: list[_Row] = []
    for phone_rows in by_phone.values():
        batch.extend(phone_rows)
        if len(batch) >= BATCH_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


def _chunks(items: list[str], size: int = BATCH_ROWS) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _stored(connection: Connection, phones: list[str]) -> dict[str, Any]:
    """The stored subscribers among these numbers, locked till commit on PostgreSQL."""
    found: dict[str, Any] = {}
    for chunk in _chunks(phones):
        statement = (
            select(
                SUBSCRIBERS.c.id,
                SUBSCRIBERS.c.phone,
                SUBSCRIBERS.c.status,
                SUBSCRIBERS.c.first_name,
                SUBSCRIBERS.c.timezone,
                SUBSCRIBERS.c.attributes,
                SUBSCRIBERS.c.tags,
                SUBSCRIBERS.c.email,
            )
            .where(SUBSCRIBERS.c.phone.in_(chunk))
            .with_for_update()
        )
        for row in connection.execute(statement):
            found[row.phone] = row
    return found


def _last_opt_outs(connection: Connection, subscriber_ids: list[int]) -> dict[int, Any]:
    if not subscriber_ids:
        return {}
    latest = (
        select(func.max(CONSENT_EVENTS.c.id))
        .where(
            CONSENT_EVENTS.c.subscriber_id.in_(subscriber_ids),
            CONSENT_EVENTS.c.kind == ConsentKind.OPT_OUT,
        )
        .group_by(CONSENT_EVENTS.c.subscriber_id)
    )
    statement = select(
        CONSENT_EVENTS.c.subscriber_id, CONSENT_EVENTS.c.source, CONSENT_EVENTS.c.created_at
    ).where(CONSENT_EVENTS.c.id.in_(latest))
    return {row.subscriber_id: row for row in connection.execute(statement)}


def _opted_out_message(opt_out: Any) -> str:
    rejoin = "only the person can rejoin by texting START"
    if opt_out is None:
        return f"opted out; {rejoin}"
    how = {"sms": "by text", ERASURE_SOURCE: "and asked for their data to be erased"}.get(
        opt_out.source, f"({opt_out.source})"
    )
    return f"opted out {how} on {opt_out.created_at:%Y-%m-%d}; {rejoin}"


def _import_batch(
    connection: Connection,
    rows: list[_Row],
    now: datetime,
    report: ImportReport,
    *,
    all_or_nothing: bool,
) -> None:
    """Refuse rows for opted-out numbers; merge and store the rest (none if `all_or_nothing`
    and any row of the file was refused)."""
    phones = list(dict.fromkeys(row.phone for row in rows))
    stored = _stored(connection, phones)
    opted_out = {
        phone: row for phone, row in stored.items() if row.status == SubscriberStatus.UNSUBSCRIBED
    }
    opt_outs = _last_opt_outs(connection, [row.id for row in opted_out.values()])
    accepted: list[_Row] = []
    for row in rows:
        if row.phone in opted_out:
            message = _opted_out_message(opt_outs.get(opted_out[row.phone].id))
            report.refused.append(Refusal(row.line, "phone", message))
        else:
            accepted.append(row)
    if all_or_nothing and report.refused:
        return
    profiles: dict[str, dict[str, Any]] = {}
    for row in accepted:
        profile = profiles.get(row.phone)
        if profile is None:
            existing = stored.get(row.phone)
            profile = {
                "id": existing.id if existing else None,
                "first_name": existing.first_name if existing else None,
                "timezone": existing.timezone if existing else None,
                "attributes": dict(existing.attributes or {}) if existing else {},
                "tags": list(existing.tags or []) if existing else [],
            }
            profiles[row.phone] = profile
            if existing:
                report.merged += 1
            else:
                report.imported += 1
        else:
            report.merged += 1
        profile["first_name"] = row.first_name or profile["first_name"]
        profile["timezone"] = row.timezone or profile["timezone"]
        profile["attributes"].update(row.attributes)
        profile["tags"] = list(dict.fromkeys([*profile["tags"], *row.tags]))
    if not accepted:
        return
    ids = _write_profiles(connection, profiles, now)
    connection.execute(
        CONSENT_EVENTS.insert(),
        [
            {
                "subscriber_id": ids[row.phone],
                "phone": row.phone,
                "kind": ConsentKind.OPT_IN,
                "source": row.consent_source,
                "keyword": None,
                "text": row.consent_text,
                "message_id": None,
                "created_at": row.consent_at,
            }
            for row in accepted
        ],
    )
    _tell_subscribed(connection, accepted, profiles, stored, ids, now)


def _tell_subscribed(
    connection: Connection,
    accepted: list[_Row],
    profiles: dict[str, dict[str, Any]],
    stored: dict[str, Any],
    ids: dict[str, int],
    now: datetime,
) -> None:
    """Webhooks hear of the people the import subscribed (not of those subscribed before)."""
    sources = {row.phone: row.consent_source for row in accepted}  # the last row's, per person
    subscribed = []
    for phone, profile in profiles.items():
        before = stored.get(phone)
        if before is not None and before.status == SubscriberStatus.SUBSCRIBED:
            continue
        person = SubscriberRow(
            id=ids[phone],
            phone=phone,
            status=SubscriberStatus.SUBSCRIBED,
            first_name=profile["first_name"],
            tags=profile["tags"],
            email=before.email if before is not None else None,
        )
        subscribed.append((phone, person.event_data(source=sources[phone], keyword=None)))
    record_webhook_events(connection, WebhookEventType.SUBSCRIBED, subscribed, now=now)


def _write_profiles(
    connection: Connection, profiles: dict[str, dict[str, Any]], now: datetime
) -> dict[str, int]:
    """Insert new subscribers and update stored ones, in bulk; returns every phone's id."""
    ids = {phone: p["id"] for phone, p in profiles.items() if p["id"] is not None}
    updates = [
        {
            "b_id": p["id"],
            "b_first_name": p["first_name"],
            "b_timezone": p["timezone"],
            "b_attributes": p["attributes"],
            "b_tags": p["tags"],
        }
        for p in profiles.values()
        if p["id"] is not None
    ]
    if updates:
        connection.execute(
            update(SUBSCRIBERS)
            .where(SUBSCRIBERS.c.id == bindparam("b_id"))
            .values(
                status=SubscriberStatus.SUBSCRIBED,
                first_name=bindparam("b_first_name"),
                timezone=bindparam("b_timezone"),
                attributes=bindparam("b_attributes"),
                tags=bindparam("b_tags"),
                updated_at=now,
            ),
            updates,
        )
    inserts = [
        {
            "phone": phone,
            "status": SubscriberStatus.SUBSCRIBED,
            "first_name": p["first_name"],
            "timezone": p["timezone"],
            "attributes": p["attributes"],
            "tags": p["tags"],
            "created_at": now,
            "updated_at": now,
        }
        for phone, p in profiles.items()
        if p["id"] is None
    ]
    if inserts:
        statement = dialect_insert(connection.dialect.name, SUBSCRIBERS)
        # A number that texted us between our lookup and this insert: rather than overwrite a
        # row we never read (it may have opted out), give up and let the import be run again.
        statement = statement.on_conflict_do_nothing(index_elements=["phone"]).returning(
            SUBSCRIBERS.c.id, SUBSCRIBERS.c.phone
        )
        created = {row.phone: row.id for row in connection.execute(statement, inserts)}
        raced = [row["phone"] for row in inserts if row["phone"] not in created]
        if raced:
            raise ImportRaced(raced)
        ids.update(created)
    return ids


def export_subscribers(db: Engine) -> Iterator[dict[str, Any]]:
    """Every subscriber, oldest first, with their latest consent event (EXPORT_COLUMNS)."""
    latest = (
        select(CONSENT_EVENTS.c.subscriber_id, func.max(CONSENT_EVENTS.c.id).label("consent_id"))
        .group_by(CONSENT_EVENTS.c.subscriber_id)
        .subquery()
    )
    statement = (
        select(
            SUBSCRIBERS.c.phone,
            SUBSCRIBERS.c.status,
            SUBSCRIBERS.c.first_name,
            SUBSCRIBERS.c.timezone,
            SUBSCRIBERS.c.tags,
            SUBSCRIBERS.c.attributes,
            SUBSCRIBERS.c.created_at,
            CONSENT_EVENTS.c.kind,
            CONSENT_EVENTS.c.source,
            CONSENT_EVENTS.c.created_at.label("consent_at"),
        )
        .select_from(SUBSCRIBERS)
        .outerjoin(latest, latest.c.subscriber_id == SUBSCRIBERS.c.id)
        .outerjoin(CONSENT_EVENTS, CONSENT_EVENTS.c.id == latest.c.consent_id)
        .order_by(SUBSCRIBERS.c.id)
    )
    with db.connect() as connection:
        for row in connection.execution_options(yield_per=BATCH_ROWS).execute(statement):
            yield {
                "phone": row.phone,
                "status": _plain(row.status),
                "first_name": row.first_name or "",
                "timezone": row.timezone or "",
                "tags": TAG_SEPARATOR.join(row.tags or []),
                "attributes": json.dumps(row.attributes or {}, sort_keys=True, ensure_ascii=False),
                "created_at": _plain(row.created_at),
                "consent_kind": _plain(row.kind) if row.kind else "",
                "consent_source": row.source or "",
                "consent_at": _plain(row.consent_at) if row.consent_at else "",
            }


def _plain(value: Any) -> Any:
    """A stored value as JSON can say it: enums by value, moments in ISO 8601."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _rows(connection: Connection, statement: Any) -> list[dict[str, Any]]:
    return [
        {key: _plain(value) for key, value in row._mapping.items()}
        for row in connection.execute(statement)
    ]


def subscriber_record(db: Engine, phone: str) -> dict[str, Any] | None:
    """Everything stored about one number (a subject-access request), JSON-serialisable."""
    with db.connect() as connection:
        profiles = _rows(connection, select(SUBSCRIBERS).where(SUBSCRIBERS.c.phone == phone))
        profile = profiles[0] if profiles else None
        subscriber_id = profile["id"] if profile else None
        record = {
            "phone": phone,
            "profile": profile,
            "consent": _rows(
                connection,
                select(CONSENT_EVENTS)
                .where(CONSENT_EVENTS.c.phone == phone)
                .order_by(CONSENT_EVENTS.c.id),
            ),
            "messages": _rows(
                connection,
                select(MESSAGES).where(MESSAGES.c.phone == phone).order_by(MESSAGES.c.id),
            ),
            "answers": _rows(
                connection, select(ANSWERS).where(ANSWERS.c.phone == phone).order_by(ANSWERS.c.id)
            ),
            "events": _rows(
                connection, select(EVENTS).where(EVENTS.c.phone == phone).order_by(EVENTS.c.id)
            ),
            "shopify_webhooks": _rows(
                connection,
                select(SHOPIFY_WEBHOOKS)
                .where(SHOPIFY_WEBHOOKS.c.phone == phone)
                .order_by(SHOPIFY_WEBHOOKS.c.id),
            ),
            "conversations": _rows(
                connection,
                select(CONVERSATIONS)
                .where(CONVERSATIONS.c.subscriber_id == subscriber_id)
                .order_by(CONVERSATIONS.c.id),
            )
            if subscriber_id is not None
            else [],
            # What the team wrote about them is theirs to see too.
            "notes": _rows(
                connection,
                select(
                    CONVERSATION_NOTES.c.conversation_id,
                    CONVERSATION_NOTES.c.body,
                    CONVERSATION_NOTES.c.created_at,
                )
                .where(CONVERSATION_NOTES.c.subscriber_id == subscriber_id)
                .order_by(CONVERSATION_NOTES.c.id),
            )
            if subscriber_id is not None
            else [],
        }
    kinds = ("profile", "consent", "messages", "answers", "events", "shopify_webhooks")
    held = any(record[key] for key in kinds)
    return record if held else None


def erase_subscriber(db: Engine, phone: str, now: datetime) -> bool:
    """Erase a person's data, keeping an opted-out tombstone and the consent ledger's entries.

    False (and nothing written) when nothing is stored about the number.
    """
    with transaction(db) as connection:
        if not _holds_anything(connection, phone):
            return False
        subscriber = claim_subscriber(connection, phone, now)
        connection.execute(
            update(SUBSCRIBERS)
            .where(SUBSCRIBERS.c.id == subscriber.id)
            .values(
                status=SubscriberStatus.UNSUBSCRIBED,
                first_name=None,
                timezone=None,
                attributes={},
                tags=[],
                email=None,
                updated_at=now,
            )
        )
        # Texts waiting in the outbox never go: suppressed before their bodies are erased.
        connection.execute(
            update(MESSAGES)
            .where(
                MESSAGES.c.phone == phone,
                MESSAGES.c.direction == Direction.OUTBOUND,
                status_is(MESSAGES.c.status, MessageStatus.PENDING),
            )
            .values(status=MessageStatus.SUPPRESSED, error_message="number erased", updated_at=now)
        )
        connection.execute(
            update(MESSAGES)
            .where(MESSAGES.c.phone == phone)
            .values(body=ERASED, media_urls=[], updated_at=now)
        )
        connection.execute(update(ANSWERS).where(ANSWERS.c.phone == phone).values(value=None))
        connection.execute(update(EVENTS).where(EVENTS.c.phone == phone).values(data={}))
        # What the shop sent about them and is not handled yet goes too (handled ones kept none).
        connection.execute(
            update(SHOPIFY_WEBHOOKS).where(SHOPIFY_WEBHOOKS.c.phone == phone).values(body=None)
        )
        conversations = connection.execute(
            select(CONVERSATIONS.c.id, CONVERSATIONS.c.status).where(
                CONVERSATIONS.c.subscriber_id == subscriber.id
            )
        ).all()
        for conversation in conversations:
            # Its timer and expiry go too: the clock never wakes an erased conversation.
            values: dict[str, Any] = {
                "state": {},
                "wakes_at": None,
                "wake_kind": None,
                "expires_at": None,
                "updated_at": now,
            }
            if conversation.status == ConversationStatus.ACTIVE:
                values.update(status=ConversationStatus.ENDED, end_reason="erased", ended_at=now)
            connection.execute(
                update(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation.id).values(**values)
            )
        _erase_team_work(connection, subscriber.id, now)
        connection.execute(
            update(CONSENT_EVENTS)
            .where(CONSENT_EVENTS.c.phone == phone, CONSENT_EVENTS.c.text.is_not(None))
            .values(text=ERASED)
        )
        connection.execute(
            CONSENT_EVENTS.insert().values(
                subscriber_id=subscriber.id,
                phone=phone,
                kind=ConsentKind.OPT_OUT,
                source=ERASURE_SOURCE,
                keyword=None,
                text=None,
                created_at=now,
            )
        )
        forget_webhook_events(connection, phone, now)
        # The address goes with it: the e-mail tool finds the person to erase by it.
        erased = {"email": subscriber.email}
        record_webhook_event(connection, WebhookEventType.ERASED, phone=phone, data=erased, now=now)
    return True


def _erase_team_work(connection: Connection, subscriber_id: int, now: datetime) -> None:
    """What the team wrote about the person goes, and nothing of theirs waits for a human.

    Notes are deleted, not blanked: a note is free text about the person, and an empty one
    (with its mentions) would still tell colleagues "see this erased person". The chat rows the
    reports count are closed, not deleted: they hold no personal data, only times.
    """
    notes = select(CONVERSATION_NOTES.c.id).where(
        CONVERSATION_NOTES.c.subscriber_id == subscriber_id
    )
    connection.execute(delete(NOTE_MENTIONS).where(NOTE_MENTIONS.c.note_id.in_(notes)))
    connection.execute(
        delete(CONVERSATION_NOTES).where(CONVERSATION_NOTES.c.subscriber_id == subscriber_id)
    )
    theirs = select(CONVERSATIONS.c.id).where(CONVERSATIONS.c.subscriber_id == subscriber_id)
    connection.execute(
        delete(CONVERSATION_LABELS).where(CONVERSATION_LABELS.c.conversation_id.in_(theirs))
    )
    close_open(connection, subscriber_id=subscriber_id, now=now, outcome="erased")
    chat_closed(connection, subscriber_id=subscriber_id, now=now, outcome="erased")
    connection.execute(delete(ASSIGNMENTS).where(ASSIGNMENTS.c.subscriber_id == subscriber_id))


def erased_already(connection: Connection, phone: str) -> bool:
    """Whether the number's latest consent entry is its erasure: nothing came since."""
    latest = connection.execute(
        select(CONSENT_EVENTS.c.source)
        .where(CONSENT_EVENTS.c.phone == phone)
        .order_by(CONSENT_EVENTS.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return latest == ERASURE_SOURCE


def erase_events(db: Engine, external_ids: Sequence[str]) -> int:
    """Blank the data of the events stored under these ids (another system's records of a
    person, such as their orders); returns how many there were."""
    erased = 0
    with transaction(db) as connection:
        for chunk in _chunks(list(external_ids)):
            erased += connection.execute(
                update(EVENTS).where(EVENTS.c.external_id.in_(chunk)).values(data={})
            ).rowcount
    return erased


def _holds_anything(connection: Connection, phone: str) -> bool:
    for table in (SUBSCRIBERS, MESSAGES, EVENTS):
        found = connection.execute(select(table.c.id).where(table.c.phone == phone).limit(1))
        if found.first() is not None:
            return True
    return False
