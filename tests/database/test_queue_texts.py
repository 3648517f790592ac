"""A batch of texts queued at once gets the rows `queue_text` gives each, in a few statements."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, select

from bot.domain.policy import PolicyRules
from bot.domain.vocabulary import Delivery, Direction, MessageStatus, Purpose
from bot.domain.vocabulary import SubscriberStatus as S
from bot.sending.outbox import MAX_TEXT_CHARS, Draft, queue_text, queue_texts
from bot.store.subscribers import SubscriberRow
from bot.store.tables import LINKS, MESSAGES
from tests.support.statements import StatementCounter

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
PUBLIC_URL = "https://parley.test"
CAMPAIGN = "sale"
URL = "https://acme.test/boots"
CODE = re.compile(r"/l/(?!old)[0-9A-Za-z]{7}")  # a fresh code; "old…" are the earlier links
# Numbers in different zones and states: New York, Los Angeles, Florida, Hawaii, Vancouver, UK.
NUMBERS = ["+1212555", "+1213555", "+1305555", "+1808555", "+1604555", "+4477009001"]


@dataclass(frozen=True)
class Person:
    subscriber: SubscriberRow
    recent: tuple[tuple[int, MessageStatus], ...]  # earlier promotional texts: hours ago, status
    has_link: bool  # already has this campaign's link for the URL
    not_before_hours: int | None
    body: str


@st.composite
def people(draw: st.DrawFn) -> list[Person]:
    prefixes = draw(st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=6))
    found = []
    for index, prefix in enumerate(prefixes):
        phone = f"{prefix}{index:02d}{draw(st.integers(10, 99))}"
        state = draw(st.sampled_from([None, "FL", "Oklahoma", "CA", "ON"]))
        subscriber = SubscriberRow(
            id=index + 1,
            phone=phone,
            status=draw(st.sampled_from([S.SUBSCRIBED, S.SUBSCRIBED, S.UNSUBSCRIBED, S.PENDING])),
            timezone=draw(st.sampled_from([None, None, "America/Chicago", "Nowhere/Land"])),
            attributes={} if state is None else {"state": state},
        )
        recent = draw(
            st.lists(
                st.tuples(
                    st.integers(-20, 50),  # negative: deferred into the future
                    st.sampled_from(
                        [MessageStatus.SENT, MessageStatus.PENDING, MessageStatus.FAILED]
                    ),
                ),
                max_size=4,
            )
        )
        name = draw(st.sampled_from(["Ann", "Zoë", "x" * MAX_TEXT_CHARS]))
        found.append(
            Person(
                subscriber,
                tuple(recent),
                draw(st.booleans()),
                draw(st.sampled_from([None, None, -2, 3, 15])),
                f"Acme: {name}, boots 20% off {URL} and {URL}/socks Reply STOP to opt out.",
            )
        )
    return found


def prepare(connection: Connection, crowd: list[Person], now: datetime) -> None:
    """The rows that were there before: earlier promotional texts and links."""
    for person in crowd:
        phone = person.subscriber.phone
        for hours_ago, status in person.recent:
            moment = now - timedelta(hours=hours_ago)
            connection.execute(
                MESSAGES.insert(),
                {"phone": phone, "direction": Direction.OUTBOUND, "body": "earlier",
                 "media_urls": [], "segments": 1, "encoding": "GSM-7", "status": status,
                 "purpose": Purpose.PROMOTIONAL, "delivery": Delivery.OUTBOX,
                 "created_at": min(moment, now), "updated_at": now,
                 "send_after": moment if moment > now else None,
                 "sent_at": moment if status is MessageStatus.SENT else None},
            )  # fmt: skip
        if person.has_link:
            connection.execute(
                LINKS.insert(),
                {"code": f"old{phone[-4:]}", "url": URL, "phone": phone, "campaign": CAMPAIGN,
                 "created_at": now - timedelta(days=3)},
            )  # fmt: skip


def draft_of(person: Person, now: datetime) -> Draft:
    hours = person.not_before_hours
    return Draft(
        person.subscriber,
        person.body,
        brand_spans=[(0, len(person.body))],
        variant="a",
        not_before=None if hours is None else now + timedelta(hours=hours),
        media_urls=("https://acme.test/boots.jpg",),
    )


def stored(connection: Connection) -> list[tuple[Any, ...]]:
    """What was queued, as a person would see it: the texts (codes aside) and their links,
    with every column a batch writes once for all its texts."""
    texts = connection.execute(
        select(MESSAGES).where(MESSAGES.c.body != "earlier").order_by(MESSAGES.c.phone)
    ).all()
    links = {
        (row.message_id, row.url): row
        for row in connection.execute(select(LINKS).where(LINKS.c.message_id.is_not(None)))
    }
    return [
        (
            text.phone,
            CODE.sub("/l/CODE", text.body),
            text.status,
            text.send_after,
            text.error_message,
            text.segments,
            text.encoding,
            text.delivery,
            text.variant,
            text.media_urls,
            (text.direction, text.purpose, text.in_reply_to_id, text.agent_id, text.sent_at),
            (text.flow, text.campaign, text.created_at, text.updated_at),
            sorted(
                (url, link.flow, link.campaign, link.created_at)
                for (message_id, url), link in links.items()
                if message_id == text.id
            ),
            # Each code in the text leads to its own link.
            sorted(link.code for (message_id, _url), link in links.items() if message_id == text.id)
            == sorted(set(re.findall(r"/l/(\w{7})", text.body))),
        )
        for text in texts
    ]


def queue_both_ways(
    db: Engine,
    crowd: list[Person],
    now: datetime,
    rules: PolicyRules,
    origin: Mapping[str, str] = MappingProxyType({"campaign": CAMPAIGN}),
) -> tuple[list[Any], list[Any]]:
    results = []
    for batch in (False, True):
        with db.connect() as connection:
            transaction = connection.begin()
            prepare(connection, crowd, now)
            drafts = [draft_of(person, now) for person in crowd]
            common: dict[str, Any] = {
                "purpose": Purpose.PROMOTIONAL,
                "now": now,
                "rules": rules,
                "public_url": PUBLIC_URL,
                **origin,
            }
            if batch:
                queued = queue_texts(connection, drafts, **common)
            else:
                queued = [
                    queue_text(
                        connection,
                        draft.subscriber,
                        body=draft.body,
                        delivery=Delivery.OUTBOX,
                        brand_spans=draft.brand_spans,
                        variant=draft.variant,
                        not_before=draft.not_before,
                        media_urls=draft.media_urls,
                        **common,
                    )
                    for draft in drafts
                ]
            answers = [
                (CODE.sub("/l/CODE", q.body), q.status, q.send_after, q.decision) for q in queued
            ]
            results.append((stored(connection), answers))
            transaction.rollback()
    return results[0], results[1]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    crowd=people(),
    hour=st.sampled_from([3, 12, 18, 23]),  # UTC: night somewhere, day elsewhere
    per_day=st.sampled_from([1, 3, None]),
    over_cap=st.sampled_from(["defer", "skip"]),
    # A campaign's texts, or a flow's (a batch of texts that belong to no campaign).
    origin=st.sampled_from([{"campaign": CAMPAIGN}, {"flow": "welcome"}]),
)
def test_a_batch_gets_the_rows_one_by_one_would(
    db: Engine,
    crowd: list[Person],
    hour: int,
    per_day: int | None,
    over_cap: str,
    origin: dict[str, str],
) -> None:
    now = NOW.replace(hour=hour)
    rules = PolicyRules(promotional_per_day=per_day, over_cap=over_cap)  # type: ignore[arg-type]
    one_by_one, batch = queue_both_ways(db, crowd, now, rules, origin)
    assert batch == one_by_one


def test_the_cases_the_property_needs_do_happen(db: Engine) -> None:
    """A batch that defers, suppresses, schedules and reuses a link, checked by hand."""
    night = NOW.replace(hour=3)  # 22:00 in New York: quiet hours
    crowd = [
        Person(SubscriberRow(1, "+12125550101", S.SUBSCRIBED), (), True, None, f"Hi {URL}"),
        Person(SubscriberRow(2, "+12135550102", S.UNSUBSCRIBED), (), False, None, f"Hi {URL}"),
        Person(SubscriberRow(3, "+13055550103", S.SUBSCRIBED), ((1, MessageStatus.SENT),), False,
               15, f"Hi {URL}"),
    ]  # fmt: skip
    one_by_one, batch = queue_both_ways(db, crowd, night, PolicyRules(promotional_per_day=1))
    assert batch == one_by_one
    texts = {row[0]: row for row in batch[0]}
    assert texts["+12125550101"][1] == "Hi https://parley.test/l/old0101"  # the link it had
    assert texts["+12125550101"][2] is MessageStatus.PENDING and texts["+12125550101"][3] > night
    assert texts["+12135550102"][2] is MessageStatus.SUPPRESSED
    assert texts["+12135550102"][4] == "recipient opted out"
    # Capped by yesterday's text until 02:00 UTC tomorrow, then held for the morning in Florida.
    assert texts["+13055550103"][3] > night + timedelta(hours=15)


def test_a_batch_runs_the_same_statements_however_many_people(db: Engine) -> None:
    def statements(size: int, first: int) -> int:
        crowd = [
            Person(
                SubscriberRow(index, f"+1212555{index:04d}", S.SUBSCRIBED),
                ((5, MessageStatus.SENT),),
                index % 2 == 0,
                None,
                f"Hi {URL}",
            )
            for index in range(first, first + size)
        ]
        with db.connect() as connection, connection.begin():
            prepare(connection, crowd, NOW)
        counter = StatementCounter(db)
        with db.connect() as connection, connection.begin():
            queued = queue_texts(
                connection,
                [draft_of(person, NOW) for person in crowd],
                purpose=Purpose.PROMOTIONAL,
                now=NOW,
                public_url=PUBLIC_URL,
                campaign=f"{CAMPAIGN}{size}",
            )
        assert len(queued) == size
        return counter.count

    few, many = statements(3, first=0), statements(120, first=5000)
    assert few == many
    # recent texts, links, codes, the messages' ids, the messages, the new links (the last two
    # one driver call each: executemany, or COPY on PostgreSQL)
    assert many == 6


def test_a_campaigns_first_texts_look_up_no_links(db: Engine) -> None:
    """People without the campaign's text have none of its links: one look-up fewer."""
    crowd = [
        Person(SubscriberRow(index, f"+1212555{index:04d}", S.SUBSCRIBED), (), False, None,
               f"Hi {URL}")
        for index in range(1, 4)
    ]  # fmt: skip
    counter = StatementCounter(db)
    with db.connect() as connection, connection.begin():
        queue_texts(
            connection,
            [draft_of(person, NOW) for person in crowd],
            purpose=Purpose.PROMOTIONAL,
            now=NOW,
            public_url=PUBLIC_URL,
            campaign=CAMPAIGN,
            first_of_campaign=True,
        )
        # recent texts, codes, the messages' ids, the messages, the new links
        assert counter.count == 5
        kept = stored(connection)
    assert [(text[0], text[1]) for text in kept] == [
        (person.subscriber.phone, "Hi https://parley.test/l/CODE") for person in crowd
    ]
    assert all([url for url, *_ in text[-2]] == [URL] and text[-1] for text in kept), kept


def test_a_batch_texts_each_number_once(db: Engine) -> None:
    """A second text to a number must count the first in its cap: one by one, not in a batch."""
    person = SubscriberRow(1, "+12125550101", S.SUBSCRIBED)
    with db.connect() as connection, connection.begin():
        with pytest.raises(ValueError, match="one text per number"):
            queue_texts(
                connection,
                [Draft(person, "Hi"), Draft(person, "Hi again")],
                purpose=Purpose.PROMOTIONAL,
                now=NOW,
            )
        assert connection.execute(select(MESSAGES.c.id)).all() == []
