"""Campaign queueing: how fast a campaign's texts go into the outbox, in rows per second.

Usage: python bench/campaign.py [--recipients N] [--batch B] [--database-url URL]

B defaults to what `bot campaign send` uses on the database (500 on SQLite, 2000 on PostgreSQL),
for both targets.

N subscribed people get a campaign (two variants, one URL, send_at now): `send_campaign` reads
them in batches of B, assigns each a variant, renders the text, makes their tracked link, asks
the send policy (consent, quiet hours, the frequency cap) and writes the message row, one
transaction per batch. The baseline, on a fresh database of its own in the same run, inserts the
same number of message rows (same columns, the texts rendered beforehand, no policy, no links)
with Core executemany in batches of B, one transaction per batch: the least any outbox must
cost. The ratio (Parley's rows/s over the baseline's) is the figure. (Parley writes its message
and link rows with COPY on PostgreSQL; the baseline stays the plain executemany.)

"CPU s" and "CPU ratio" are the same runs timed by this process's CPU time, which the load of
a shared machine barely moves; on PostgreSQL the server's work is not in them. Both runs keep
the garbage collector off what the process held before them, as a campaign does
(bot/campaigns/collector.py), so neither pays for scanning the app.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import MetaData, create_engine, func, select, text  # noqa: E402

from bot.app import create_app, services_of  # noqa: E402
from bot.campaigns.assign import assign_variant  # noqa: E402
from bot.campaigns.audience import Recipient  # noqa: E402
from bot.campaigns.collector import long_lived_frozen  # noqa: E402
from bot.campaigns.send import default_batch, load_campaign, send_campaign  # noqa: E402
from bot.domain.segments import count_segments  # noqa: E402
from bot.domain.vocabulary import Delivery, Direction, MessageStatus, Purpose, SubscriberStatus  # noqa: E402
from bot.sending.gateways.fake import FakeGateway  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store.db import transaction  # noqa: E402
from bot.store.migrate import upgrade  # noqa: E402
from bot.store.tables import MESSAGES, SUBSCRIBERS  # noqa: E402
from bot.testing.clock import FakeClock  # noqa: E402

NAME = "bench_sale"
CAMPAIGN = f"""\
campaign: {NAME}
description: benchmark campaign, everyone subscribed
segment: {{}}
send_at: now
variants:
  - name: a
    weight: 50
    text: "{{brand}}: {{first_name|Hi}}, boots are 20% off: https://shop.example/boots Reply STOP to opt out."
  - name: b
    weight: 50
    text: "{{brand}}: Boots 20% off for you, {{first_name|friend}}: https://shop.example/boots Reply STOP to opt out."
"""  # noqa: E501
# Monday 18:00 UTC: daytime in every US zone, so no text is held back by quiet hours.
NOW = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)
SEED_BATCH = 5_000


def phone_of(index: int) -> str:
    return f"+1415{index:07d}"


def seed(services, count: int) -> None:  # type: ignore[no-untyped-def]
    """`count` subscribed people, inserted directly (not timed)."""
    for offset in range(0, count, SEED_BATCH):
        size = min(SEED_BATCH, count - offset)
        with transaction(services.db) as connection:
            connection.execute(
                SUBSCRIBERS.insert(),
                [
                    {"phone": phone_of(offset + index), "status": SubscriberStatus.SUBSCRIBED,
                     "first_name": "Ana" if (offset + index) % 2 else None, "attributes": {},
                     "tags": [], "created_at": NOW, "updated_at": NOW}
                    for index in range(size)
                ],
            )  # fmt: skip
        print(f"  seeded {offset + size}/{count}", file=sys.stderr, flush=True)


def baseline_rows(services, count: int) -> list[dict]:  # type: ignore[no-untyped-def]
    """The message rows a campaign would write, rendered up front: variant, body, segments."""
    settings = services.settings
    campaign = load_campaign(settings, NAME)
    rows = []
    for index in range(count):
        phone = phone_of(index)
        recipient = Recipient(
            phone=phone,
            first_name="Ana" if index % 2 else None,
            timezone=None,
            attributes={},
            tags=(),
        )
        variant = assign_variant(NAME, phone, campaign.variants)
        body = variant.text.render(
            recipient.template_variables(
                brand=settings.BRAND_NAME, support=settings.SUPPORT_CONTACT
            )
        )
        segments = count_segments(body)
        rows.append(
            {"phone": phone, "direction": Direction.OUTBOUND, "body": body, "media_urls": [],
             "segments": segments.segments, "encoding": str(segments.encoding),
             "status": MessageStatus.PENDING, "purpose": Purpose.PROMOTIONAL,
             "delivery": Delivery.OUTBOX, "in_reply_to_id": None, "error_message": None,
             "flow": None, "campaign": NAME, "variant": variant.name, "agent_id": None,
             "send_after": None, "sent_at": None, "created_at": NOW, "updated_at": NOW}
        )  # fmt: skip
    return rows


def progress_printer(label: str):  # type: ignore[no-untyped-def]
    state = {"next": 0}

    def progress(done: int, total: int) -> None:
        if total and done >= state["next"]:
            print(f"  {label}: {done}/{total}", file=sys.stderr, flush=True)
            state["next"] = done + max(total // 10, 1)

    return progress


# Each run returns its wall-clock seconds and this process's CPU seconds over the same span.
def run_baseline(services, count: int, batch: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    rows = baseline_rows(services, count)
    progress = progress_printer("baseline")
    started, cpu_started = time.perf_counter(), time.process_time()
    # As send_campaign runs: the collector's scans skip what the process held before the run
    # (at 8e21114 they had cost the baseline ~0.2 s that Parley's run did not pay).
    with long_lived_frozen():
        for offset in range(0, count, batch):
            with transaction(services.db) as connection:
                connection.execute(MESSAGES.insert(), rows[offset : offset + batch])
            progress(offset + len(rows[offset : offset + batch]), count)
    return time.perf_counter() - started, time.process_time() - cpu_started


def run_parley(services, count: int, batch: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    started, cpu_started = time.perf_counter(), time.process_time()
    report = send_campaign(
        services, NAME, progress=progress_printer("parley"), batch=batch, now=NOW
    )
    elapsed = time.perf_counter() - started, time.process_time() - cpu_started
    if report.queued != count:
        raise SystemExit(f"parley: queued {report.queued} of {count} ({report})")
    return elapsed


def count_rows(services) -> int:  # type: ignore[no-untyped-def]
    with services.db.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(MESSAGES).where(MESSAGES.c.campaign == NAME)
        ).scalar_one()


def empty(url: str) -> None:
    """Drop every table in the database at `url` (PostgreSQL: its public schema)."""
    db = create_engine(url)
    with db.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        else:
            reflected = MetaData()
            reflected.reflect(connection)
            reflected.drop_all(connection)
    db.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument(
        "--batch",
        type=int,
        default=None,
        help="rows per transaction, both targets (default: Parley's own, 500 on SQLite, "
        "2000 on PostgreSQL)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="default: a fresh SQLite file per run; a database given is EMPTIED before each run",
    )
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    scratch = Path(tempfile.mkdtemp(prefix="parley-campaign-"))
    results: dict[str, tuple[int, float]] = {}
    # This process's CPU seconds per run: the load of a shared machine barely moves them (on
    # PostgreSQL the server's work is not in them).
    cpu: dict[str, float] = {}
    try:
        (scratch / "flows" / "campaigns").mkdir(parents=True)
        (scratch / "flows" / "campaigns" / f"{NAME}.yaml").write_text(CAMPAIGN)
        for label in ("baseline", "parley"):
            url = args.database_url or f"sqlite:///{scratch}/{label}.db"
            if args.database_url:
                empty(url)  # the baseline and Parley each start from an empty database
            upgrade(url)
            settings = Settings(
                _env_file=None,
                DATABASE_URL=url,
                FLOWS_DIR=scratch / "flows",
                GATEWAY="console",
                PUBLIC_URL="https://parley.example",
            )  # type: ignore[call-arg]
            services = services_of(
                create_app(settings, gateway=FakeGateway(), clock=FakeClock(NOW))
            )
            seed(services, args.recipients)
            run = run_baseline if label == "baseline" else run_parley
            batch = args.batch or default_batch(services.db)
            seconds, cpu[label] = run(services, args.recipients, batch)
            results[label] = (count_rows(services), seconds)
            services.db.dispose()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    base_rate = results["baseline"][0] / results["baseline"][1]
    base_cpu_rate = results["baseline"][0] / cpu["baseline"]
    print(
        f"{'target':<9} {'rows':>8} {'seconds':>8} {'rows/s':>8} {'ratio':>6}"
        f" {'CPU s':>7} {'CPU ratio':>9}"
    )
    for label, (rows, seconds) in results.items():
        rate = rows / seconds
        cpu_rate = rows / cpu[label]
        print(
            f"{label:<9} {rows:>8} {seconds:>8.1f} {rate:>8.0f} {rate / base_rate:>6.2f}"
            f" {cpu[label]:>7.1f} {cpu_rate / base_cpu_rate:>9.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
