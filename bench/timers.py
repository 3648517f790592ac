"""Timer throughput: how fast the clock resumes conversations whose timers came due.

Usage: python bench/timers.py [--timers N] [--database-url URL]

N conversations are parked on a `wait` step whose timer (on the conversation row) is already
due; the clock's tick work (fire_due_timers) resumes each one: it claims the conversation, runs
the flow's next step (a text into the outbox) and ends the flow, one transaction per timer. The
baseline, in the same run and on the same database, only claims each due row and clears its
timer, one transaction per timer: the least any durable timer must cost. The ratio is the figure.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, update  # noqa: E402

from bot.app import create_app, services_of  # noqa: E402
from bot.domain.vocabulary import ConversationStatus, HandledBy, SubscriberStatus  # noqa: E402
from bot.engine.state import FlowState  # noqa: E402
from bot.sending.gateways.fake import FakeGateway  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store.db import transaction  # noqa: E402
from bot.store.migrate import upgrade  # noqa: E402
from bot.store.tables import CONVERSATIONS, SUBSCRIBERS  # noqa: E402
from bot.testing.clock import FakeClock  # noqa: E402

FLOW = """\
flow: nudge
triggers:
  keywords: [NUDGE]
steps:
  - id: pause
    wait: 1m
  - end: "Just checking in!"
"""
START = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)
BATCH = 5_000


def park(services, count: int, version: str) -> None:  # type: ignore[no-untyped-def]
    """`count` subscribers, each in the nudge flow, waiting on a timer that is due."""
    state = FlowState("nudge", version, "pause", "timer", START).to_json()
    for offset in range(0, count, BATCH):
        size = min(BATCH, count - offset)
        phones = [f"+1415{offset + index:07d}" for index in range(size)]
        with transaction(services.db) as connection:
            connection.execute(
                SUBSCRIBERS.insert(),
                [
                    {"phone": phone, "status": SubscriberStatus.SUBSCRIBED, "attributes": {},
                     "tags": [], "created_at": START, "updated_at": START}
                    for phone in phones
                ],
            )  # fmt: skip
            ids = dict(
                connection.execute(
                    select(SUBSCRIBERS.c.phone, SUBSCRIBERS.c.id).where(
                        SUBSCRIBERS.c.phone.in_(phones)
                    )
                ).all()
            )
            connection.execute(
                CONVERSATIONS.insert(),
                [
                    {"subscriber_id": ids[phone], "phone": phone, "flow": "nudge",
                     "flow_version": version, "step": "pause", "state": state,
                     "status": ConversationStatus.ACTIVE, "handled_by": HandledBy.BOT,
                     "wakes_at": START + timedelta(minutes=1), "wake_kind": "wait",
                     "started_at": START, "updated_at": START}
                    for phone in phones
                ],
            )  # fmt: skip
        print(f"  parked {offset + size}/{count}", file=sys.stderr, flush=True)


def drain(label: str, count: int, fire_some) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    done = 0
    next_report = count // 10
    while done < count:
        fired = fire_some()
        if not fired:
            break
        done += fired
        if done >= next_report:
            print(f"  {label}: {done}/{count}", file=sys.stderr, flush=True)
            next_report += count // 10
    elapsed = time.perf_counter() - started
    if done != count:
        raise SystemExit(f"{label}: fired {done} of {count} timers")
    return elapsed


def baseline_batch(services, limit: int) -> int:  # type: ignore[no-untyped-def]
    """Claim each due row and clear its timer, one transaction per timer, no flow work."""
    due = CONVERSATIONS.c.wakes_at.is_not(None)
    with services.db.connect() as connection:
        ids = connection.execute(select(CONVERSATIONS.c.id).where(due).limit(limit)).scalars().all()
    for conversation_id in ids:
        with transaction(services.db) as connection:
            row = connection.execute(
                select(CONVERSATIONS.c.id)
                .where(CONVERSATIONS.c.id == conversation_id, due)
                .with_for_update(skip_locked=True)
            ).first()
            if row is not None:
                connection.execute(
                    update(CONVERSATIONS)
                    .where(CONVERSATIONS.c.id == conversation_id)
                    .values(wakes_at=None, wake_kind=None, updated_at=START)
                )
    return len(ids)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    scratch = Path(tempfile.mkdtemp(prefix="parley-timers-"))
    try:
        (scratch / "flows").mkdir()
        (scratch / "flows" / "nudge.yaml").write_text(FLOW)
        results = {}
        for label in ("baseline", "parley"):
            url = args.database_url or f"sqlite:///{scratch}/{label}.db"
            upgrade(url)
            settings = Settings(
                _env_file=None, DATABASE_URL=url, FLOWS_DIR=scratch / "flows", GATEWAY="console"
            )  # type: ignore[call-arg]
            clock = FakeClock(START + timedelta(minutes=2))
            services = services_of(create_app(settings, gateway=FakeGateway(), clock=clock))
            version = services.flows.reload().flows["nudge"].version
            park(services, args.timers, version)
            if label == "baseline":
                results[label] = drain(
                    label, args.timers, lambda s=services: baseline_batch(s, 500)
                )
            else:
                conversations = services.conversations
                results[label] = drain(
                    label, args.timers, lambda c=conversations: len(c.fire_due_timers(limit=500))
                )
            services.db.dispose()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for label, seconds in results.items():
        rate = args.timers / seconds
        print(f"{label:<9} {args.timers} timers in {seconds:6.1f} s: {rate:8.0f} timers/s")
    print(f"ratio parley/baseline throughput: {results['baseline'] / results['parley']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
