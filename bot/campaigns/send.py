"""Sending a campaign: each person's text into the outbox, in batches, pausable, never twice."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Select, Text, bindparam, cast, func, select, update
from sqlalchemy.exc import IntegrityError

from bot.campaigns.assign import in_test_split, variant_assigner
from bot.campaigns.audience import Recipient, audience_size, matches
from bot.campaigns.collector import long_lived_frozen
from bot.campaigns.model import Campaign, Variant
from bot.campaigns.parser import read_campaigns
from bot.campaigns.preview import start_for
from bot.domain.policy import PolicyRules
from bot.domain.vocabulary import (
    CampaignSendStatus,
    MessageStatus,
    Purpose,
    SubscriberStatus,
)
from bot.engine.runtime import BRAND_NAMES
from bot.engine.templates import Filled
from bot.sending.outbox import Draft, queue_texts
from bot.settings import Settings
from bot.store.db import dialect_insert, is_sqlite, json_array, transaction, where_in_bound
from bot.store.driver_sql import DriverStatement
from bot.store.models import status_in, status_is, status_is_not
from bot.store.subscribers import SubscriberRow
from bot.store.tables import CAMPAIGN_SENDS as SENDS
from bot.store.tables import MESSAGES, SUBSCRIBERS

if TYPE_CHECKING:
    from bot.services import Services

# People per batch, each batch one transaction. On SQLite a batch holds the one writer's turn
# that every inbound text waits for (~15 ms for 500 people), so batches stay small there;
# PostgreSQL has no such turn, and a batch's fixed cost (a dozen round trips, two COPYs) is
# spread over more people: 100 000 people in 3.7-3.9 s against 5.0-5.2 s with 500
# (docs/benchmarks.md).
DEFAULT_BATCH = 500
POSTGRESQL_BATCH = 2_000
_CONFLICT_RETRIES = 3  # another sender queued someone in this batch first: redo it, skipping them

Progress = Callable[[int, int], None]


@dataclass
class SendReport:
    """What one run of `send_campaign` did."""

    campaign: str
    recipients: int = 0  # people in the segment this run went through
    queued: int = 0  # new texts in the outbox, due now or at the campaign's local time
    deferred: int = 0  # new texts the policy held back (quiet hours, frequency cap)
    suppressed: int = 0  # new rows the policy refused (consent); never sent, never retried
    skipped: int = 0  # people who already have this campaign's text
    held: int = 0  # people outside the test split: they get the winner once it is picked
    paused: bool = False  # stopped by `pause_campaign` before everyone was done
    testing: bool = False  # only the test split was sent; the clock picks the winner later

    @property
    def new(self) -> int:
        return self.queued + self.deferred + self.suppressed


class CampaignPaused(Exception):
    """Raised inside a batch's transaction when the campaign was paused meanwhile."""


class CampaignNotFound(Exception):
    """No campaign file by that name passes the check; the message says what to do."""


def load_campaign(settings: Settings, name: str) -> Campaign:
    """The campaign called `name` in FLOWS_DIR/campaigns, or CampaignNotFound saying why not."""
    parsed = read_campaigns(settings.FLOWS_DIR, brand=settings.BRAND_NAME)
    for item in parsed:
        if item.campaign is not None and item.campaign.name == name:
            return item.campaign
    for item in parsed:
        if item.campaign is None and Path(item.file).stem == name:
            raise CampaignNotFound(
                f"campaign {name!r} ({item.file}) has errors; see `bot flows check`"
            )
    known = ", ".join(sorted(i.campaign.name for i in parsed if i.campaign is not None))
    raise CampaignNotFound(
        f"no campaign named {name!r} that passes the check (known: {known or 'none'});"
        " see `bot flows check`"
    )


def send_campaign(
    services: Services,
    name: str,
    *,
    progress: Progress = lambda done, total: None,
    batch: int | None = None,  # people per transaction; default: default_batch(db)
    now: datetime | None = None,  # default: the services' clock, read per batch
) -> SendReport:
    """Queue the campaign's text for everyone in its segment who does not have it yet.

    Each batch is one transaction; between batches the pause flag is checked. Running it again
    (after a pause, a crash or to reach people who joined since) queues only the missing texts.
    """
    db, settings = services.db, services.settings
    batch = default_batch(db) if batch is None else batch
    campaign = load_campaign(settings, name)
    report = SendReport(campaign.name)
    clock = services.conversations.clock if now is None else lambda: now
    with db.connect() as connection:
        total = audience_size(connection, campaign.segment)
        choose = variant_chooser(campaign, _winner(connection, campaign.name))
    report.testing = campaign.test is not None and choose.testing
    _mark(services, campaign.name, CampaignSendStatus.QUEUED, now=clock())
    progress(0, total)
    # The run makes short-lived objects by the hundred thousand: see collector.py.
    with long_lived_frozen():
        window: IdWindow | None = IdWindow(after=0, span=batch)
        while window is not None:
            try:
                tally, window = _send_batch(services, campaign, choose, window, batch, clock())
            except CampaignPaused:
                report.paused = True
                return report
            for name in ("recipients", "queued", "deferred", "suppressed", "skipped", "held"):
                setattr(report, name, getattr(report, name) + getattr(tally, name))
            if window is not None:
                progress(report.recipients, max(total, report.recipients))
    test = campaign.test if report.testing else None
    _finish(
        services,
        campaign.name,
        recipients=report.recipients,
        now=clock(),
        wait=None if test is None else test.wait,
    )
    return report


def _send_batch(
    services: Services,
    campaign: Campaign,
    choose: VariantChooser,
    window: IdWindow,
    batch: int,
    now: datetime,
) -> tuple[SendReport, IdWindow | None]:
    """One batch in one transaction: what it did and the window after it (None: done).

    Redone on a unique-key conflict (another sender queued someone first: the redo skips
    them; or a new link's random code was taken: the redo draws others), up to
    _CONFLICT_RETRIES times; CampaignPaused if the campaign was paused.
    """
    settings = services.settings
    attempt = 0
    while True:
        try:
            with transaction(services.db) as connection:
                if _status(connection, campaign.name) is CampaignSendStatus.PAUSED:
                    raise CampaignPaused
                tally = SendReport(campaign.name)
                following = _queue_batch(
                    connection,
                    campaign,
                    window=window,
                    limit=batch,
                    tally=tally,
                    now=now,
                    brand=settings.BRAND_NAME,
                    support=settings.SUPPORT_CONTACT,
                    default_zone=settings.DEFAULT_TIMEZONE,
                    public_url=settings.PUBLIC_URL,
                    rules=settings.policy_rules,
                    choose=choose,
                )
            return tally, following
        except IntegrityError:
            attempt += 1
            if attempt > _CONFLICT_RETRIES:
                raise


def default_batch(db: Engine) -> int:
    """People per transaction when the caller does not say: DEFAULT_BATCH on SQLite,
    POSTGRESQL_BATCH on PostgreSQL."""
    return DEFAULT_BATCH if is_sqlite(db) else POSTGRESQL_BATCH


@dataclass(frozen=True)
class VariantChooser:
    """Who gets which variant in this run: everyone by weight, the test split, or the winner."""

    campaign: Campaign
    winner: Variant | None  # picked after the test: what everyone without a text gets
    testing: bool  # a test split not decided yet: only its people are sent to

    def __call__(self, phone: str) -> Variant | None:
        """This person's variant, or None while they wait for the test's winner."""
        if self.winner is not None:
            return self.winner
        test = self.campaign.test
        if (
            self.testing
            and test is not None
            and not in_test_split(self.campaign.name, phone, test.share)
        ):
            return None
        return self._assign(phone)

    @cached_property
    def _assign(self) -> Callable[[str], Variant]:
        return variant_assigner(self.campaign.name, self.campaign.variants)


def variant_chooser(campaign: Campaign, winner: str | None) -> VariantChooser:
    """The chooser for a run, given the test's decided winner (None: not decided)."""
    if campaign.test is None:
        return VariantChooser(campaign, None, testing=False)
    picked = next((v for v in campaign.variants if v.name == winner), None)
    if winner is not None and picked is None:
        # The file lost the winning variant since: the decision still stands for who got what,
        # but the rest cannot be sent a variant that no longer exists.
        raise CampaignNotFound(
            f"campaign {campaign.name!r}: its test picked variant {winner!r}, which the file no"
            " longer has; put it back to send the rest"
        )
    return VariantChooser(campaign, picked, testing=picked is None)


def _winner(connection: Connection, name: str) -> str | None:
    decision = connection.execute(
        select(SENDS.c.decision).where(SENDS.c.campaign == name)
    ).scalar_one_or_none()
    return decision.get("variant") if isinstance(decision, dict) else None


def pause_campaign(services: Services, name: str) -> CampaignSendStatus | None:
    """Ask a running send to stop after its current batch; its status after, None if never sent."""
    with transaction(services.db) as connection:
        connection.execute(
            update(SENDS)
            .where(
                SENDS.c.campaign == name,
                status_in(SENDS.c.status, [CampaignSendStatus.QUEUED, CampaignSendStatus.TESTING]),
            )
            .values(status=CampaignSendStatus.PAUSED)
        )
        return _status(connection, name)


def send_status(services: Services, name: str) -> CampaignSendStatus | None:
    """Where sending this campaign stands; None when it was never sent."""
    with services.db.connect() as connection:
        return _status(connection, name)


def _queue_batch(
    connection: Connection,
    campaign: Campaign,
    *,
    window: IdWindow,
    limit: int,
    tally: SendReport,
    now: datetime,
    brand: str,
    support: str,
    default_zone: str,
    public_url: str | None,
    rules: PolicyRules,
    choose: VariantChooser,
) -> IdWindow | None:
    """Queue texts for the next `limit` subscribed people in `window`; the next window, if any."""
    rows = connection.execute(people_in(window, limit)).all()
    following = window.following(rows[-1].id if len(rows) == limit else None, limit)
    if not rows:
        # Nobody subscribed in it: go on from the next person of any status, if there is one.
        next_id = connection.execute(
            select(func.min(SUBSCRIBERS.c.id)).where(SUBSCRIBERS.c.id > window.last)
        ).scalar_one_or_none()
        if next_id is None:
            return None
        return IdWindow(after=max(following.after, next_id - 1), span=following.span)
    people = []
    profiles = _Profiles()
    for id_, phone, status, first_name, timezone, attributes, tags in rows:
        recipient = Recipient(
            phone, first_name, timezone, profiles.attributes(attributes), profiles.tags(tags)
        )
        if matches(campaign.segment, recipient):
            people.append((id_, status, recipient))
    have_it = _have_it(connection, campaign.name, [recipient.phone for *_, recipient in people])
    drafts: list[Draft] = []
    starts: list[datetime] = []
    fill = FilledTexts()
    tally.recipients += len(people)
    for id_, status, recipient in people:
        phone = recipient.phone
        if phone in have_it:
            tally.skipped += 1
            continue
        variant = choose(phone)
        if variant is None:
            tally.held += 1
            continue
        filled = fill(variant, recipient.template_variables(brand=brand, support=support))
        starts_at, _zone = start_for(campaign, recipient, default_zone, now)
        starts.append(starts_at)
        subscriber = SubscriberRow(
            id_,
            phone,
            status,
            recipient.first_name,
            recipient.timezone,
            dict(recipient.attributes),
            list(recipient.tags),
        )
        drafts.append(
            Draft(
                subscriber,
                filled.text,
                filled.brand_spans,
                variant.name,
                starts_at,
                variant.media,
            )
        )
    queued_texts = queue_texts(
        connection,
        drafts,
        purpose=Purpose.PROMOTIONAL,
        now=now,
        rules=rules,
        public_url=public_url,
        campaign=campaign.name,
        first_of_campaign=True,  # _have_it left out everyone who has its text
        redone_on_conflict=True,  # by _send_batch, which also redraws a clashing link code
    )
    for queued, starts_at in zip(queued_texts, starts, strict=True):
        if queued.status is MessageStatus.SUPPRESSED:
            tally.suppressed += 1
        elif queued.send_after is not None and queued.send_after > starts_at:
            tally.deferred += 1
        else:
            tally.queued += 1
    return following


@dataclass(frozen=True)
class IdWindow:
    """The subscriber ids a batch reads: those above `after`, up to `after + span` (`last`).

    Bounded on both sides so that PostgreSQL reads a batch through the primary key whatever its
    statistics say. An open `id > :after ORDER BY id LIMIT n` on a table grown since it was last
    analyzed (a campaign right after an import; no autovacuum) is planned as a scan and sort of
    the whole table, once a batch: quadratic over a run (100 000 people: 8-50 ms a batch, most
    of a run's time on PostgreSQL), where a bounded range reads its few hundred rows (0.2 ms).
    """

    after: int
    span: int

    @property
    def last(self) -> int:
        return self.after + self.span

    def following(self, last_read: int | None, limit: int) -> IdWindow:
        """The next window: after the last person read when the batch was full, else after this
        whole window and twice as wide (ids with gaps, or many people not subscribed)."""
        if last_read is not None:
            return IdWindow(after=last_read, span=limit)
        return IdWindow(after=self.last, span=self.span * 2)


def people_in(window: IdWindow, limit: int) -> Select[Any]:
    """The first `limit` subscribed people in the window, by id, with what a campaign reads."""
    return (
        select(
            SUBSCRIBERS.c.id,
            SUBSCRIBERS.c.phone,
            SUBSCRIBERS.c.status,
            SUBSCRIBERS.c.first_name,
            SUBSCRIBERS.c.timezone,
            # As text: most people's are "{}" and "[]", decoded once a batch (_Profiles).
            cast(SUBSCRIBERS.c.attributes, Text).label("attributes"),
            cast(SUBSCRIBERS.c.tags, Text).label("tags"),
        )
        .where(
            status_is(SUBSCRIBERS.c.status, SubscriberStatus.SUBSCRIBED),
            SUBSCRIBERS.c.id > window.after,
            SUBSCRIBERS.c.id <= window.last,
        )
        .order_by(SUBSCRIBERS.c.id)
        .limit(limit)
    )


class _Profiles:
    """People's attributes and tags from their JSON text, each distinct text decoded once.

    The values are shared between the people with the same text: read, never changed
    (a SubscriberRow takes copies).
    """

    def __init__(self) -> None:
        self._attributes: dict[str | None, Mapping[str, Any]] = {}
        self._tags: dict[str | None, tuple[str, ...]] = {}

    def attributes(self, text: str | None) -> Mapping[str, Any]:
        """The attributes map ({} for anything else)."""
        try:
            return self._attributes[text]
        except KeyError:
            value = json.loads(text) if text else None
            found = self._attributes[text] = value if isinstance(value, dict) else {}
            return found

    def tags(self, text: str | None) -> tuple[str, ...]:
        """The tags, as text."""
        try:
            return self._tags[text]
        except KeyError:
            value = json.loads(text) if text else None
            found = self._tags[text] = tuple(str(tag) for tag in value or ())
            return found


class FilledTexts:
    """One campaign's variants' texts filled in, each once per distinct set of values it reads.

    A campaign's texts repeat (one variant, one first name): most people's text is one
    already filled for someone else in their batch.
    """

    def __init__(self) -> None:
        self._filled: dict[tuple[object, ...], Filled] = {}

    def __call__(self, variant: Variant, variables: Mapping[str, object]) -> Filled:
        """`variant.text.fill(variables)`, with the brand's own names trusted."""
        template = variant.text
        values = [variables.get(name) for name in template.placeholder_roots]
        # By type too: True, 1 and 1.0 are one key but read "yes", "1" and "1".
        key = (variant.name, *values, *map(type, values))
        try:
            return self._filled[key]
        except KeyError:
            filled = self._filled[key] = template.fill(variables, trusted=BRAND_NAMES)
            return filled
        except TypeError:  # a map or a list among the values: filled each time
            return template.fill(variables, trusted=BRAND_NAMES)


# By number: a campaign's name is rare in the planner's statistics while its run fills the
# table, and `campaign = :name` first would read every row the run has written so far.
# Driver statements, one for any batch: these run once a batch (SQLAlchemy's own execution
# cost a batch of 500 about 0.1 ms more each).
_HAVE_IT = DriverStatement(
    lambda dialect: where_in_bound(
        select(MESSAGES.c.phone).where(MESSAGES.c.campaign == bindparam("campaign")),
        MESSAGES.c.phone,
        dialect,
        "phones",
    )
)
_STATUS = DriverStatement(select(SENDS.c.status).where(SENDS.c.campaign == bindparam("campaign")))


def _have_it(connection: Connection, campaign: str, phones: list[str]) -> set[str]:
    """Which of these numbers already have a text of this campaign."""
    found = _HAVE_IT.run(connection, {"campaign": campaign, "phones": json_array(phones)})
    return set(found.scalars())


def _status(connection: Connection, name: str) -> CampaignSendStatus | None:
    status = _STATUS.run(connection, {"campaign": name}).scalar_one_or_none()
    return None if status is None else CampaignSendStatus(status)


def _mark(services: Services, name: str, status: CampaignSendStatus, *, now: datetime) -> None:
    """Record that a run started (or resumed): the row exists, its status is `status`."""
    with transaction(services.db) as connection:
        statement = dialect_insert(connection.dialect.name, SENDS)
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=["campaign"], set_={"status": status, "finished_at": None}
            ),
            {"campaign": name, "status": status, "started_at": now},
        )


def _finish(
    services: Services,
    name: str,
    *,
    recipients: int,
    now: datetime,
    wait: timedelta | None = None,
) -> None:
    """Everyone this run may text is queued: done, or testing until the decision is due."""
    with transaction(services.db) as connection:
        queued = connection.execute(
            select(func.count())
            .select_from(MESSAGES)
            .where(
                MESSAGES.c.campaign == name,
                status_is_not(MESSAGES.c.status, MessageStatus.SUPPRESSED),
            )
        ).scalar_one()
        connection.execute(
            update(SENDS)
            .where(
                SENDS.c.campaign == name,
                status_is(SENDS.c.status, CampaignSendStatus.QUEUED),
            )
            .values(
                status=CampaignSendStatus.DONE if wait is None else CampaignSendStatus.TESTING,
                recipients=recipients,
                queued=queued,
                finished_at=now,
            )
        )
        if wait is not None:  # the first test run sets the timer; a resume keeps it
            # The wait starts once the last test text may go: quiet hours or a send_at can
            # hold them till the morning, and a winner picked before they went means nothing.
            last_due = connection.execute(
                select(func.max(MESSAGES.c.send_after)).where(
                    MESSAGES.c.campaign == name,
                    status_is(MESSAGES.c.status, MessageStatus.PENDING),
                )
            ).scalar_one_or_none()
            decide_at = max(now, last_due or now) + wait
            connection.execute(
                update(SENDS)
                .where(SENDS.c.campaign == name, SENDS.c.decide_at.is_(None))
                .values(decide_at=decide_at)
            )
