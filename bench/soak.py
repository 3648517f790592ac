"""Soak test: the Procfile's processes on PostgreSQL under mixed traffic for `--minutes`.

Usage: python bench/soak.py [--minutes 10] [--rate 5] [--chart soak-rss.svg] [--server-url URL]

Starts what the Procfile starts (gunicorn `webhook:app` with 2 workers, two `bot worker`, one
`bot clock`) on a fresh PostgreSQL database it creates and drops, sending through the fake
Twilio server (which posts signed status callbacks). People text JOIN, Y, SURVEY and its
answers, HELP, free text and STOP (signed as Twilio signs, some webhooks retried with the same
MessageSid); the shop posts cart_abandoned and order_placed events to the API; a campaign is
sent mid-run with `bot campaign send`. Every few seconds it samples each process's RSS from
/proc. At the end it checks that nothing was lost or sent twice, that nothing reached a number
after its STOP was answered, that the outbox drained, and that memory stayed flat; it prints
PASS/FAIL per check and the latencies, draws the RSS chart, and exits 1 on any FAIL.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.engine import Engine, make_url  # noqa: E402

from bench.soak_chart import rss_chart  # noqa: E402
from bot.domain.vocabulary import ConversationStatus, Direction, MessageStatus  # noqa: E402
from bot.store.db import make_db  # noqa: E402
from bot.store.tables import CONVERSATIONS, MESSAGES  # noqa: E402
from bot.testing.processes import (  # noqa: E402
    BIN,
    free_port,
    started,
    twilio_environment,
    wait_until,
    wait_until_healthy,
)
from bot.twilio.fake_server import FakeTwilioServer  # noqa: E402
from bot.twilio.phone import TEST_ACCOUNT_SID, reply_actions, status_callback_form  # noqa: E402
from bot.twilio.signing import signed_request  # noqa: E402

SENDER = "+15550000000"
BRAND = "Acme"
API_KEY = "soak-key"
SEND_RATE = 30  # segments a second for the sender, shared by both workers
CAMPAIGN = "soak_sale"
WEB_WORKER_LIMIT_MB = 150.0
GROWTH_LIMIT = 0.10
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
CAMPAIGN_FILE = f"""\
campaign: {CAMPAIGN}
description: the soak test's campaign, sent mid-run to everyone subscribed by then
segment: {{}}
send_at: now
variants:
  - {{name: a, weight: 50, text: "{{brand}}: soak sale, 20% off today. Reply STOP to opt out."}}
  - {{name: b, weight: 50, text: "{{brand}}: 20% off for you today, {{first_name|friend}}. Reply STOP to opt out."}}
"""  # noqa: E501
# The shipped cart reminders wait hours; the soak's copy waits seconds, so the clock works.
SHORT_WAITS = {"wait: 1h": "wait: 20s", "wait: 6h": "wait: 40s", "wait: 17h": "wait: 60s"}
STOP_WORDS = ("STOP", "stop", "Stop please", "UNSUBSCRIBE", "please stop texting me", "cancel")
FREE_TEXTS = ("where is my order?", "do you ship to Canada", "thanks!", "hello?", "ok")
REASONS = ("fast shipping", "the boots", "too expensive", "nice people")
RETRY_SHARE = 0.05  # webhooks Twilio retries with the same MessageSid
SLOW_S = 5.0  # answers slower than this are listed at the end, with when they were asked


# -- traffic ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One thing a person (or their shop) does: text `body`, or post event `event`."""

    body: str = ""
    event: str = ""


def script(rng: random.Random) -> list[Step]:
    """What one person does, in order: most join and take part; some STOP on the way."""
    if rng.random() < 0.35:  # drops in, asks, perhaps opts out
        steps = [Step(rng.choice(FREE_TEXTS)), Step("HELP")]
        return [*steps, Step(rng.choice(STOP_WORDS))] if rng.random() < 0.5 else steps
    steps = [
        Step("JOIN"),
        Step("Y"),
        Step("SURVEY"),
        Step(str(rng.randint(0, 10))),
        Step(rng.choice(REASONS)),
        # After the survey: a keyword flow would end the cart reminders (interruptible).
        Step(event="cart_abandoned"),
        Step(rng.choice(FREE_TEXTS)),
        Step("HELP"),
    ]
    if rng.random() < 0.5:  # half order at once; the others get the clock's reminders
        steps.insert(6, Step(event="order_placed"))
    if rng.random() < 0.25:
        steps.insert(rng.randint(2, len(steps)), Step(rng.choice(STOP_WORDS)))
        steps = steps[: next(i for i, s in enumerate(steps) if s.body in STOP_WORDS) + 1]
    return steps


@dataclass
class Traffic:
    """What the clients did and how long each answer took."""

    base_url: str
    auth_token: str
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failures: list[str] = field(default_factory=list)
    inbound_sids: set[str] = field(default_factory=set)
    stop_answered: dict[str, float] = field(default_factory=dict)  # phone → monotonic
    retried: int = 0
    slow: list[str] = field(default_factory=list)
    began: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def post(self, kind: str, request: urllib.request.Request) -> str | None:
        """POST and time it; the answer's body, or None (and a failure noted) on an error."""
        started_at = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                body = str(answer.read().decode())
        except (urllib.error.URLError, OSError) as error:
            code = getattr(error, "code", None)
            with self.lock:
                self.failures.append(f"{kind} {request.full_url}: {code or error}")
            return None
        took = time.perf_counter() - started_at
        with self.lock:
            self.latencies[kind].append(took)
            if took > SLOW_S:
                asked_at = time.monotonic() - self.began - took
                self.slow.append(f"{kind} at {asked_at:.0f} s took {took:.1f} s")
        return body

    def text(self, phone: str, body: str, rng: random.Random) -> None:
        """Text as Twilio posts it (sometimes twice), then report the TwiML replies delivered."""
        sid = "SM" + uuid.uuid4().hex
        url = f"{self.base_url}/twilio/sms"
        form = {"MessageSid": sid, "From": phone, "To": SENDER, "Body": body, "NumMedia": "0"}
        with self.lock:
            self.inbound_sids.add(sid)
        twiml = self.post("sms", signed_request(url, form, self.auth_token))
        if body in STOP_WORDS:
            with self.lock:
                self.stop_answered[phone] = time.monotonic()
        if rng.random() < RETRY_SHARE:  # Twilio retries: it changes nothing the second time
            with self.lock:
                self.retried += 1
            again = self.post("sms", signed_request(url, form, self.auth_token))
            if twiml is not None and again != twiml:
                with self.lock:
                    self.failures.append(f"retry of {sid} answered differently")
        for action in reply_actions(twiml or ""):
            reply_sid = "SM" + uuid.uuid4().hex
            for status in ("sent", "delivered"):
                report = status_callback_form(
                    TEST_ACCOUNT_SID, reply_sid, status, sender=SENDER, to=phone
                )
                self.post("status", signed_request(urljoin(url, action), report, self.auth_token))

    def event(self, phone: str, kind: str) -> None:
        """The shop reports a cart or an order through the API."""
        data = (
            {"cart_url": "https://shop.example/c/1"}
            if kind == "cart_abandoned"
            else {"amount": 42.5}
        )
        body = {"type": kind, "phone": phone, "data": data, "id": f"{kind}-{phone}"}
        request = urllib.request.Request(
            f"{self.base_url}/api/events",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
        )
        self.post("api", request)


def client(
    traffic: Traffic, numbers: Callable[[], str], pause: float, seed: int, stop: threading.Event
) -> None:
    """One client: people one after another, a step every `pause` seconds, until `stop`."""
    rng = random.Random(seed)
    while not stop.is_set():
        phone = numbers()
        for step in script(rng):
            if stop.wait(pause):
                return
            if step.event:
                traffic.event(phone, step.event)
            else:
                traffic.text(phone, step.body, rng)


def phone_numbers() -> Callable[[], str]:
    """+1 415 555 0000 onwards: California, where no state law narrows the sending hours."""
    lock, counter = threading.Lock(), itertools.count()

    def next_number() -> str:
        with lock:
            return f"+1415555{next(counter):04d}"

    return next_number


# -- memory -------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float | None:
    """A process's resident set size in MB, from /proc; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def shared_and_private_mb(pid: int) -> tuple[float, float] | None:
    """PSS (shared pages split among their users) and private memory, from smaps_rollup."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = {line.split(":")[0]: int(line.split()[1]) for line in rollup[1:] if ":" in line}
    private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return fields.get("Pss", 0) / 1024, private / 1024


def children(pid: int) -> list[int]:
    """The pids of a process's children (gunicorn's workers), from /proc."""
    try:
        return [
            int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ]
    except FileNotFoundError:
        return []


@dataclass
class Memory:
    """RSS samples per process: name → [(seconds since start, MB)]."""

    processes: dict[str, int]  # the fixed ones: web master, workers, clock
    web_master: int
    started_at: float = field(default_factory=time.monotonic)
    samples: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    web_workers: dict[int, str] = field(default_factory=dict)

    def sample(self) -> None:
        now = time.monotonic() - self.started_at
        for pid in children(self.web_master):
            self.web_workers.setdefault(pid, f"web worker {len(self.web_workers) + 1}")
        named = {**self.processes, **{name: pid for pid, name in self.web_workers.items()}}
        for name, pid in named.items():
            mb = rss_mb(pid)
            if mb is not None:
                self.samples[name].append((now, mb))

    def run(self, every: float, stop: threading.Event) -> None:
        while not stop.wait(every):
            self.sample()

    def breakdown(self) -> list[str]:
        """Each process's RSS, PSS and private memory now: what RSS counts twice, shared."""
        named = {**self.processes, **{name: pid for pid, name in self.web_workers.items()}}
        lines = []
        for name, pid in named.items():
            rss, split = rss_mb(pid), shared_and_private_mb(pid)
            if rss is not None and split is not None:
                pss, private = split
                lines.append(f"{name:13} RSS {rss:6.1f}  PSS {pss:6.1f}  private {private:6.1f} MB")
        return lines

    def summary(self, name: str) -> str:
        line = self.samples.get(name)
        return f"{line[-1][1]:.0f}" if line else "-"


def growth(points: list[tuple[float, float]], warmup_s: float) -> tuple[float, float, float]:
    """RSS just after warm-up and at the end (medians of 3 samples), and the growth between."""
    after = [mb for seconds, mb in points if seconds >= warmup_s]
    if len(after) < 2:
        return float("nan"), float("nan"), float("nan")
    start, end = statistics.median(after[:3]), statistics.median(after[-3:])
    return start, end, (end - start) / start


# -- the database -------------------------------------------------------------------------------


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A database of its own on the server, dropped afterwards."""
    name = f"parley_soak_{uuid.uuid4().hex[:10]}"
    admin = make_db(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def soak_flows(folder: Path) -> Path:
    """The shipped flows, cart reminders seconds apart, and the soak's campaign."""
    flows = folder / "flows"
    shutil.copytree(ROOT / "flows", flows)
    cart = flows / "abandoned_cart.yaml"
    written = cart.read_text()
    for hours, seconds in SHORT_WAITS.items():
        written = written.replace(hours, seconds)
    cart.write_text(written)
    (flows / "campaigns" / f"{CAMPAIGN}.yaml").write_text(CAMPAIGN_FILE)
    return flows


# What `bot worker` and `bot clock` print once they are loaded and at work.
STARTED_LINES = ("sending through", "Clock running against")


def started_up(process: subprocess.Popen[bytes]) -> bool:
    """Whether a child started with `started` has said in its log that it is at work."""
    log = Path(process.log_path).read_text(errors="replace")  # type: ignore[attr-defined]
    return any(line in log for line in STARTED_LINES)


def long_transactions(db: Engine) -> list[str]:
    """Transactions open for over SLOW_S seconds on the soak's database, and what they wait on."""
    query = text(
        "SELECT state, wait_event_type, wait_event,"
        " extract(epoch FROM now() - xact_start) AS open_s, left(query, 80) AS query"
        " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND xact_start < now() - make_interval(secs => :slow)"
    )
    with db.connect() as connection:
        rows = connection.execute(query, {"slow": SLOW_S}).all()
    return [
        f"{row.state} {row.open_s:.0f} s, waiting on {row.wait_event_type}/{row.wait_event}:"
        f" {row.query}"
        for row in rows
    ]


def outbox_left(db: Engine) -> int:
    """Texts not yet handed to Twilio, or whose fate a crash left open."""
    waiting = MESSAGES.c.status.in_([MessageStatus.PENDING, MessageStatus.UNKNOWN])
    with db.connect() as connection:
        return connection.scalar(select(func.count()).where(waiting)) or 0


class Campaign:
    """`bot campaign send` run once, on a thread; it says when it is done and what it queued."""

    def __init__(self, env: dict[str, str], began: float) -> None:
        self.env, self.began, self.output = env, began, "not sent"
        self.thread = threading.Thread(target=self._send)

    def start(self) -> None:
        if self.thread.ident is None:
            self.thread.start()

    def join(self) -> None:
        if self.thread.ident is not None:
            self.thread.join()

    def _send(self) -> None:
        asked = time.monotonic() - self.began
        sent = subprocess.run(
            [str(BIN / "bot"), "campaign", "send", CAMPAIGN],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        self.output = ((sent.stdout.strip().splitlines() or [""])[-1] + sent.stderr).strip()
        done = time.monotonic() - self.began
        print(f"{done:6.0f} s  campaign (asked at {asked:.0f} s): {self.output}", flush=True)


# -- the checks ---------------------------------------------------------------------------------


@dataclass
class Verdict:
    lines: list[str] = field(default_factory=list)
    failed: int = 0

    def check(self, ok: bool, what: str, detail: str = "") -> None:
        self.failed += not ok
        self.lines.append(f"{'PASS' if ok else 'FAIL'}  {what}" + (f": {detail}" if detail else ""))


def check_messages(
    verdict: Verdict, db: Engine, twilio: FakeTwilioServer, traffic: Traffic
) -> None:
    """Nothing lost, nothing sent twice, nothing after a STOP, the campaign once each."""
    with db.connect() as connection:
        stored = Counter(
            connection.scalars(
                select(MESSAGES.c.provider_sid).where(MESSAGES.c.direction == Direction.INBOUND)
            )
        )
        campaign_rows = connection.execute(
            select(MESSAGES.c.phone, MESSAGES.c.body, MESSAGES.c.status).where(
                MESSAGES.c.campaign == CAMPAIGN
            )
        ).all()
        rest_sent = dict(
            connection.execute(
                select(MESSAGES.c.provider_sid, MESSAGES.c.status).where(
                    MESSAGES.c.provider_sid.in_([message["sid"] for message in twilio.messages])
                )
            ).all()
        )
    twice = [sid for sid, times in stored.items() if times > 1]
    missing = traffic.inbound_sids - set(stored)
    verdict.check(
        not twice and not missing,
        "every inbound text stored once",
        f"{len(traffic.inbound_sids)} texts ({traffic.retried} retried):"
        f" {len(missing)} missing, {len(twice)} twice",
    )
    handed = Counter(_message_id(message) for message in twilio.messages)
    again = {mid: times for mid, times in handed.items() if times > 1}
    verdict.check(
        not again,
        "no outbound text handed to Twilio twice",
        f"{len(twilio.messages)} texts, {len(again)} twice",
    )
    late = [
        f"{arrival.to} {arrival.monotonic - traffic.stop_answered[arrival.to]:.2f} s after"
        for arrival in twilio.arrivals
        if arrival.to in traffic.stop_answered
        and arrival.monotonic > traffic.stop_answered[arrival.to]
    ]
    verdict.check(
        not late,
        "nothing sent after a STOP was answered",
        f"{len(traffic.stop_answered)} STOPs; " + ", ".join(late[:5]),
    )
    arrived = Counter((arrival.to, arrival.body) for arrival in twilio.arrivals)
    per_phone = Counter(phone for phone, _, _ in campaign_rows)
    wrong = [
        f"{phone} {status} x{arrived[(phone, body)]}"
        for phone, body, status in campaign_rows
        if arrived[(phone, body)]
        != (1 if status in (MessageStatus.SENT, MessageStatus.DELIVERED) else 0)
        or status not in (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.SUPPRESSED)
    ]
    sent = sum(
        status in (MessageStatus.SENT, MessageStatus.DELIVERED) for _, _, status in campaign_rows
    )
    verdict.check(
        bool(campaign_rows) and not wrong and max(per_phone.values(), default=0) <= 1,
        "every campaign recipient got exactly one text",
        f"{len(campaign_rows)} recipients, {sent} sent,"
        f" {len(campaign_rows) - sent} held back at a STOP; " + ", ".join(wrong[:5]),
    )
    reports = twilio.status_reports
    refused = [report for report in reports if not 200 <= report.answered < 300]
    undelivered = [sid for sid, status in rest_sent.items() if status != MessageStatus.DELIVERED]
    verdict.check(
        len(reports) == 2 * len(twilio.messages) and not refused and not undelivered,
        "status callbacks posted by the fake and applied",
        f"{len(reports)} callbacks for {len(twilio.messages)} texts, {len(refused)} refused, "
        f"{len(undelivered)} texts not 'delivered'",
    )


def _message_id(message: dict[str, object]) -> str:
    """Our message id, from the status callback URL the dispatcher gave Twilio."""
    callback = str(message.get("StatusCallback", ""))
    ids = parse_qs(urlsplit(callback).query).get("mid")
    return ids[0] if ids else f"{message.get('To')}|{message.get('Body')}"


def check_timers(verdict: Verdict, db: Engine) -> None:
    """The clock woke every conversation that was due (a minute's grace)."""
    overdue_at = datetime.now(UTC) - timedelta(minutes=1)
    with db.connect() as connection:
        overdue = connection.scalar(
            select(func.count())
            .select_from(CONVERSATIONS)
            .where(
                CONVERSATIONS.c.status == ConversationStatus.ACTIVE,
                CONVERSATIONS.c.wakes_at < overdue_at,
            )
        )
    verdict.check(overdue == 0, "the clock woke every due conversation", f"{overdue} overdue")


def check_memory(verdict: Verdict, memory: Memory, warmup_s: float) -> None:
    for name, points in memory.samples.items():
        start, end, grew = growth(points, warmup_s)
        verdict.check(
            grew < GROWTH_LIMIT,
            f"{name} memory flat",
            f"{start:.1f} MB after warm-up, {end:.1f} MB at the end ({grew:+.1%})",
        )
    web = [
        mb
        for name, points in memory.samples.items()
        if name.startswith("web worker")
        for _, mb in points
    ]
    verdict.check(
        max(web, default=0) < WEB_WORKER_LIMIT_MB,
        f"every web worker under {WEB_WORKER_LIMIT_MB:.0f} MB",
        f"max {max(web, default=0):.1f} MB",
    )
    verdict.check(
        len(memory.web_workers) == 2,
        "the web workers were never replaced",
        f"{len(memory.web_workers)} seen",
    )


def percentiles(latencies: dict[str, list[float]]) -> list[str]:
    lines = []
    for kind, values in sorted(latencies.items()):
        cuts = statistics.quantiles(values, n=100) if len(values) > 1 else values * 99
        lines.append(
            f"{kind:7} {len(values):6} requests"
            f"  p50 {cuts[49] * 1000:7.1f} ms  p99 {cuts[98] * 1000:7.1f} ms"
        )
    return lines


# -- the run ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long traffic runs")
    parser.add_argument(
        "--rate", type=float, default=5.0, help="texts and events a second, all clients"
    )
    parser.add_argument("--clients", type=int, default=4, help="people texting at once")
    parser.add_argument("--sample-seconds", type=float, default=5.0, help="RSS sampling period")
    parser.add_argument(
        "--chart", type=Path, default=Path("soak-rss.svg"), help="the RSS chart (SVG)"
    )
    parser.add_argument("--server-url", default=DEFAULT_SERVER, help="a PostgreSQL server")
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--logs", type=Path, help="keep the processes' logs here")
    args = parser.parse_args(argv)
    duration = args.minutes * 60
    warmup_s = min(120.0, 0.2 * duration)

    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="soak-")))
        logs = args.logs or folder
        logs.mkdir(parents=True, exist_ok=True)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the fake's request lines
        database_url = stack.enter_context(fresh_database(args.server_url))
        twilio = stack.enter_context(FakeTwilioServer())
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        env = {
            **twilio_environment(
                database_url, twilio, brand=BRAND, sender=SENDER, send_rate=SEND_RATE
            ),
            "PUBLIC_URL": base_url,
            "API_KEY": API_KEY,
            "FLOWS_DIR": str(soak_flows(folder)),
            # Every text may go at once whenever the soak runs: no quiet hours, no daily cap.
            "SENDING_HOURS": "00:00-24:00",
            "PROMOTIONAL_PER_DAY": "0",
        }
        subprocess.run(
            [str(BIN / "bot"), "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True
        )
        db = make_db(database_url)
        stack.callback(db.dispose)
        web = [
            str(BIN / "gunicorn"),
            "webhook:app",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
        ]
        # Its log goes to a file: a pipe nobody reads would fill up and stall gunicorn.
        gunicorn = stack.enter_context(started(web, env, logs / "web.log"))
        wait_until_healthy(base_url, gunicorn)
        children_of = {
            f"bot worker {n}": stack.enter_context(
                started([str(BIN / "bot"), "worker"], env, logs / f"worker-{n}.log")
            )
            for n in (1, 2)
        }
        children_of["bot clock"] = stack.enter_context(
            started([str(BIN / "bot"), "clock"], env, logs / "clock.log")
        )
        watched = list(children_of.values())
        # Traffic and the warm-up start once every process has loaded the app: on a busy
        # machine that takes a minute, which would otherwise count as memory growth.
        wait_until(
            lambda: all(started_up(process) for process in watched),
            watched,
            what="the workers and the clock to start",
            timeout=600,
        )

        memory = Memory(
            {"web master": gunicorn.pid, **{name: p.pid for name, p in children_of.items()}},
            gunicorn.pid,
        )
        stop_sampling, stop_traffic = threading.Event(), threading.Event()
        memory.sample()
        sampler = threading.Thread(target=memory.run, args=(args.sample_seconds, stop_sampling))
        sampler.start()

        traffic = Traffic(base_url, twilio.auth_token)
        numbers = phone_numbers()
        pause = args.clients / args.rate
        clients = [
            threading.Thread(
                target=client,
                args=(traffic, numbers, pause, args.seed + n, stop_traffic),
                daemon=True,
            )
            for n in range(args.clients)
        ]
        for thread in clients:
            thread.start()
        print(
            f"soak: {args.minutes:g} min at {args.rate:g} requests/s, warm-up {warmup_s:.0f} s",
            flush=True,
        )

        began = time.monotonic()
        campaign = Campaign(env, began)
        next_progress = 30.0
        while (elapsed := time.monotonic() - began) < duration:
            for process in [gunicorn, *watched]:
                if process.poll() is not None:
                    raise SystemExit(f"{process.args!r} exited with {process.returncode}")
            if elapsed >= duration / 2:
                campaign.start()  # on a thread: `bot campaign send` takes a while to load
            if elapsed >= next_progress:
                next_progress += 30
                rss = ", ".join(f"{name} {memory.summary(name)}" for name in memory.samples)
                counts = {kind: len(values) for kind, values in traffic.latencies.items()}
                print(
                    f"{elapsed:6.0f} s  requests {counts}, texts at Twilio {len(twilio.messages)}, "
                    f"outbox {outbox_left(db)}, failures {len(traffic.failures)}; RSS MB: {rss}",
                    flush=True,
                )
                for line in long_transactions(db):
                    print(f"        open transaction: {line}", flush=True)
            time.sleep(0.5)

        stop_traffic.set()
        campaign.join()
        breakdown = memory.breakdown()
        for thread in clients:
            thread.join()
        stop_sampling.set()
        sampler.join()
        memory.sample()
        # Judged here, once traffic has stopped: the clock goes on firing timers, so a text it
        # queues a moment later (a cart reminder) is no failure of a check run afterwards.
        draining_since = time.monotonic()
        try:
            wait_until(
                lambda: outbox_left(db) == 0, watched, what="the outbox to drain", timeout=300
            )
        except AssertionError as stuck:  # never emptied, or a worker died: say which
            drained, drain_detail = False, str(stuck).splitlines()[0]
        else:
            drained, drain_detail = True, f"in {time.monotonic() - draining_since:.1f} s"
        twilio.wait_until_idle()
        twilio.wait_for_reports(2 * len(twilio.messages), timeout=120)

        verdict = Verdict()
        verdict.check(
            not traffic.failures, "every request answered 2xx", "; ".join(traffic.failures[:5])
        )
        check_messages(verdict, db, twilio, traffic)
        verdict.check(drained, "outbox drained once traffic stopped", drain_detail)
        check_timers(verdict, db)
        check_memory(verdict, memory, warmup_s)
        reminders = sum(
            "left something in your cart" in arrival.body for arrival in twilio.arrivals
        )

        print(
            f"\ncampaign: {campaign.output}\ncart reminders sent by the clock's timers: {reminders}"
        )
        print("\n".join(percentiles(traffic.latencies)))
        print(f"answers over {SLOW_S:g} s: {len(traffic.slow)}  " + "; ".join(traffic.slow[:10]))
        print("memory at the end of traffic:\n  " + "\n  ".join(breakdown))
        print("\n".join(verdict.lines))
        args.chart.write_text(
            rss_chart(memory.samples, warmup_s=warmup_s, limit_mb=WEB_WORKER_LIMIT_MB)
        )
        print(f"RSS chart: {args.chart}")
        return 1 if verdict.failed else 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
