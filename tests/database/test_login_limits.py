"""Login limits hold under concurrency and never lock an agent out everywhere; TRUSTED_PROXIES."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bot.accounts.agents import (
    FREE_FAILURES_PER_EMAIL,
    MAX_EMAIL_DELAY,
    MAX_FAILURES_PER_ADDRESS,
    MAX_FAILURES_PER_PAIR,
    TooManyAttempts,
)
from bot.accounts.sessions import start_session
from bot.cli import main
from tests.database.test_signature import AUTH_TOKEN, PUBLIC_URL, inbound_form, sign
from tests.support.inbox import NOON_IN_SF, PASSWORD, Inbox, login, token
from tests.support.passwords import authenticate, check_once
from tests.support.sms import replies

WRONG = "a wrong password guess"
PARALLEL = 40


class CountedCheck:
    """The password check, counting how many passwords were really tried."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, stored_hash: str, password: str) -> bool:
        with self._lock:
            self.calls += 1
        return check_once(stored_hash, password)


@pytest.fixture
def inbox(database_url: str) -> Inbox:
    return Inbox(database_url)


def guess_in_parallel(
    inbox: Inbox, who: Callable[[int], tuple[str, str]]
) -> tuple[CountedCheck, list[str]]:
    """PARALLEL wrong passwords at once; `who(i)` is the (email, address) of guess i."""
    counted = CountedCheck()
    start = threading.Barrier(PARALLEL)

    def guess(index: int) -> str:
        email, address = who(index)
        start.wait()
        try:
            result = authenticate(
                inbox.services.db, email, WRONG, address, NOON_IN_SF, check_password=counted
            )
        except TooManyAttempts:
            return "paused"
        return "wrong" if result is None else "in"

    with ThreadPoolExecutor(PARALLEL) as pool:
        outcomes = list(pool.map(guess, range(PARALLEL)))
    return counted, outcomes


@pytest.mark.parametrize(
    ("who", "limit"),
    [
        pytest.param(lambda i: ("dana@acme.test", "10.0.0.1"), MAX_FAILURES_PER_PAIR, id="pair"),
        pytest.param(
            lambda i: ("dana@acme.test", f"10.0.1.{i}"), FREE_FAILURES_PER_EMAIL, id="email"
        ),
        pytest.param(
            lambda i: (f"x{i}@acme.test", "10.0.0.1"), MAX_FAILURES_PER_ADDRESS, id="address"
        ),
    ],
)
def test_parallel_guesses_try_at_most_the_limit(
    inbox: Inbox, who: Callable[[int], tuple[str, str]], limit: int
) -> None:
    counted, outcomes = guess_in_parallel(inbox, who)
    assert counted.calls == limit
    assert outcomes.count("wrong") == limit and outcomes.count("paused") == PARALLEL - limit


def test_guessing_from_everywhere_slows_down_but_never_locks_the_agent_out(inbox: Inbox) -> None:
    db, now = inbox.services.db, NOON_IN_SF
    # Dana logged in from her office yesterday.
    start_session(db, inbox.dana.id, user_agent=None, remote_addr="198.51.100.7", now=now)
    for number in range(FREE_FAILURES_PER_EMAIL):
        assert authenticate(db, "dana@acme.test", WRONG, f"10.0.2.{number}", now) is None
    # From here on each guess waits twice as long after the last one, up to MAX_EMAIL_DELAY.
    waits, at = [], now
    for number in range(9):  # 13.5 minutes in all: every guess stays inside the window
        with pytest.raises(TooManyAttempts) as paused:
            authenticate(db, "dana@acme.test", WRONG, f"10.0.3.{number}", at)
        waits.append(paused.value.seconds)
        at += timedelta(seconds=paused.value.seconds)
        assert authenticate(db, "dana@acme.test", WRONG, f"10.0.3.{number}", at) is None
    assert waits == [2, 4, 8, 16, 32, 64, 128, 256, MAX_EMAIL_DELAY.total_seconds()]
    # Her own office is not slowed down at all.
    assert authenticate(db, "dana@acme.test", PASSWORD, "198.51.100.7", at) is not None
    # Her success took the guesses back: from a new address she gets in at once too.
    assert authenticate(db, "dana@acme.test", PASSWORD, "203.0.113.9", at) is not None


def test_a_new_address_waits_at_most_the_longest_delay(inbox: Inbox) -> None:
    db, now = inbox.services.db, NOON_IN_SF
    for number in range(50):
        with contextlib.suppress(TooManyAttempts):
            authenticate(db, "dana@acme.test", WRONG, f"10.0.4.{number}", now)
    with pytest.raises(TooManyAttempts) as paused:
        authenticate(db, "dana@acme.test", PASSWORD, "203.0.113.9", now)
    assert paused.value.seconds <= MAX_EMAIL_DELAY.total_seconds()
    later = now + MAX_EMAIL_DELAY
    assert authenticate(db, "dana@acme.test", PASSWORD, "203.0.113.9", later) is not None


def test_the_login_page_says_when_to_try_again(inbox: Inbox) -> None:
    client = inbox.new_client()
    for _ in range(MAX_FAILURES_PER_PAIR):
        assert login(client, "dana@acme.test", WRONG).status_code == 401
    paused = login(client, "dana@acme.test", PASSWORD)
    assert paused.status_code == 429 and paused.headers["Retry-After"] == "900"


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", database_url)
    return CliRunner()


def lock_out(inbox: Inbox, email: str, address: str) -> None:
    for _ in range(MAX_FAILURES_PER_PAIR):
        authenticate(inbox.services.db, email, WRONG, address, NOON_IN_SF)
    with pytest.raises(TooManyAttempts):
        authenticate(inbox.services.db, email, PASSWORD, address, NOON_IN_SF)


@pytest.mark.parametrize(
    ("arguments", "output"),
    [
        (["dana@acme.test"], "forgot 5 failed logins of dana@acme.test\n"),
        (["--address", "10.0.0.1"], "forgot 5 failed logins of 10.0.0.1\n"),
        (
            ["DANA@acme.test", "--address", "10.0.0.1"],
            "forgot 5 failed logins of DANA@acme.test from 10.0.0.1\n",
        ),
    ],
)
def test_bot_agents_unlock_clears_a_lock(
    inbox: Inbox, cli: CliRunner, arguments: list[str], output: str
) -> None:
    lock_out(inbox, "dana@acme.test", "10.0.0.1")
    result = cli.invoke(main, ["agents", "unlock", *arguments])
    assert (result.exit_code, result.output) == (0, output)
    assert authenticate(inbox.services.db, "dana@acme.test", PASSWORD, "10.0.0.1", NOON_IN_SF)


def test_bot_agents_unlock_needs_an_email_or_an_address(cli: CliRunner) -> None:
    result = cli.invoke(main, ["agents", "unlock"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: name an email, an address, or both: bot agents unlock EMAIL [--address ADDRESS]\n"
    )


def test_behind_trusted_proxies_limits_see_the_real_address(database_url: str) -> None:
    inbox = Inbox(database_url, TRUSTED_PROXIES=1)
    client = inbox.new_client()
    for _ in range(MAX_FAILURES_PER_PAIR):
        assert login_from(client, "203.0.113.5", WRONG).status_code == 401
    assert login_from(client, "203.0.113.5").status_code == 429
    assert login_from(client, "198.51.100.7").status_code == 302  # Dana, behind the same proxy


def test_without_trusted_proxies_a_forwarded_address_is_ignored(inbox: Inbox) -> None:
    client = inbox.new_client()
    for _ in range(MAX_FAILURES_PER_PAIR):
        assert login(client, "dana@acme.test", WRONG).status_code == 401
    # A guesser cannot escape the limit by claiming to be someone else.
    assert login_from(client, "198.51.100.7").status_code == 429


def login_from(client: FlaskClient, address: str, password: str = PASSWORD) -> TestResponse:
    """Log in as Dana through a proxy that says the client is at `address`."""
    form = {"email": "dana@acme.test", "password": password, "csrf_token": token(client)}
    return client.post("/inbox/login", data=form, headers={"X-Forwarded-For": address})


def test_webhook_signatures_still_hold_behind_trusted_proxies(database_url: str) -> None:
    inbox = Inbox(
        database_url, TRUSTED_PROXIES=1, TWILIO_AUTH_TOKEN=AUTH_TOKEN, PUBLIC_URL=PUBLIC_URL
    )
    form = inbound_form()
    signature = sign(f"{PUBLIC_URL}/twilio/sms", form)
    proxied = {
        "X-Twilio-Signature": signature,
        "X-Forwarded-For": "54.172.60.1",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "sms.acme.example",
    }
    response = inbox.new_client().post("/twilio/sms", data=form, headers=proxied)
    assert response.status_code == 200 and len(replies(response)) == 1
    forged = {**proxied, "X-Twilio-Signature": sign("http://localhost/twilio/sms", form)}
    assert inbox.new_client().post("/twilio/sms", data=form, headers=forged).status_code == 403
