"""Configuration: defaults, the gateway choice, and one-line errors naming the variable."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.pacing import Pacer
from bot.sending.gateways.fake import FakeGateway
from bot.sending.shared_pace import DatabaseBucket, RedisBucket, SharedPace
from bot.services import build_dispatcher
from bot.settings import ConfigError, GatewayName, PaceStore, load_settings
from bot.store.db import make_db

TWILIO = {"TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "t" * 32}


@pytest.fixture(autouse=True)
def _in_an_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # so no developer's .env is read


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.DATABASE_URL == "sqlite:///data/bot.db"
    assert (settings.HOST, settings.PORT) == ("127.0.0.1", 5000)
    assert settings.GATEWAY is GatewayName.CONSOLE
    assert settings.FLOWS_DIR == Path("flows")
    assert not settings.signatures_required


def test_twilio_is_the_default_gateway_once_credentials_are_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {**TWILIO, "TWILIO_FROM": "+14155559999"}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.GATEWAY is GatewayName.TWILIO
    assert settings.signatures_required


def test_a_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BRAND_NAME=Acme\nPORT=8080\nAPI_KEY=\n")
    settings = load_settings()
    assert (settings.BRAND_NAME, settings.PORT, settings.API_KEY) == ("Acme", 8080, None)


def test_join_keywords_are_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOIN_KEYWORDS", "deals, VIP ,")
    assert load_settings().join_keywords == ("deals", "VIP")


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"PORT": "abc"}, "PORT (got 'abc')"),
        ({"PORT": "70000"}, "PORT"),
        ({"GATEWAY": "pigeon"}, "GATEWAY (got 'pigeon')"),
        ({"GATEWAY": "twilio"}, "TWILIO_ACCOUNT_SID is required when GATEWAY=twilio"),
        (TWILIO, "TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID is required"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"DATABASE_URL": "::nonsense"}, "DATABASE_URL"),
        ({"PUBLIC_URL": "sms.acme.example"}, "PUBLIC_URL"),
        ({"DEFAULT_COUNTRY": "USA"}, "DEFAULT_COUNTRY"),
        pytest.param({"SENDING_HOURS": "9-5"}, "SENDING_HOURS (got '9-5'): expected", id="hours"),
        pytest.param(
            {"SENDING_HOURS": "21:00-08:00"}, "SENDING_HOURS (got '21:00-08:00')", id="overnight"
        ),
        pytest.param(
            {"SENDING_HOURS_BY_REGION": "Mars=09:00-20:00"},
            "SENDING_HOURS_BY_REGION (got 'Mars=09:00-20:00'): 'Mars' is neither",
            id="region",
        ),
        pytest.param(
            {"SENDING_HOURS_BY_REGION": "US=06:00-07:00"},
            "SENDING_HOURS_BY_REGION: US=06:00-07:00 does not overlap SENDING_HOURS=08:00-21:00",
            id="region-outside-sending-hours",
        ),
        pytest.param(
            {"DEFAULT_TIMEZONE": "Mars/Olympus"},
            "DEFAULT_TIMEZONE (got 'Mars/Olympus'): must be an IANA time zone",
            id="zone",
        ),
        pytest.param({"PROMOTIONAL_PER_DAY": "-1"}, "PROMOTIONAL_PER_DAY (got '-1')", id="cap"),
        pytest.param({"PROMOTIONAL_PER_DAY": "lots"}, "PROMOTIONAL_PER_DAY", id="cap-text"),
        pytest.param({"OVER_CAP": "drop"}, "OVER_CAP (got 'drop')", id="over-cap"),
        pytest.param(
            {"SEND_RETRY_WINDOW": "12h"},
            "SEND_RETRY_WINDOW (got '12h'): 12h is longer than Twilio's 10-hour validity period",
            id="retry-window-too-long",
        ),
        pytest.param(
            {"SEND_RETRY_WINDOW": "240"},
            "SEND_RETRY_WINDOW (got '240'): '240' has no unit",
            id="retry-window-unitless",
        ),
        pytest.param(
            {"SEND_RETRY_WINDOW": "0s"}, "SEND_RETRY_WINDOW (got '0s'): '0s' is zero", id="zero"
        ),
        pytest.param({"PACE_STORE": "redis"}, "PACE_STORE=redis needs REDIS_URL", id="pace-redis"),
        pytest.param({"PACE_STORE": "memcached"}, "PACE_STORE", id="pace-unknown"),
        pytest.param(
            {"REDIS_URL": "127.0.0.1:6379"},
            "REDIS_URL (got '127.0.0.1:6379'): must start with",
            id="redis-url",
        ),
    ],
)
def test_bad_values_stop_start_up_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], message: str
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_secrets_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "hunter2")
    monkeypatch.setenv("GATEWAY", "twilio")
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert "hunter2" not in str(error.value)


def test_public_url_loses_its_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_URL", "https://sms.acme.example/")
    assert load_settings().PUBLIC_URL == "https://sms.acme.example"


def test_the_retry_window_reads_durations_and_defaults_to_four_hours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().SEND_RETRY_WINDOW == timedelta(hours=4)
    monkeypatch.setenv("SEND_RETRY_WINDOW", "90 minutes")
    assert load_settings().SEND_RETRY_WINDOW == timedelta(minutes=90)
    monkeypatch.setenv("SEND_RETRY_WINDOW", "10h")  # Twilio's limit itself is fine
    assert load_settings().SEND_RETRY_WINDOW == timedelta(hours=10)


def test_send_max_attempts_still_starts_but_warns_that_it_is_deprecated(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SEND_MAX_ATTEMPTS", "3")
    settings = load_settings()
    db = make_db("sqlite://")
    try:
        dispatcher = build_dispatcher(settings, db=db, gateway=FakeGateway())
    finally:
        db.dispose()
    assert dispatcher.retry_window == timedelta(hours=4)
    assert "SEND_MAX_ATTEMPTS is deprecated" in caplog.text
    assert "SEND_RETRY_WINDOW (4h)" in caplog.text


@pytest.mark.parametrize(
    ("environment", "store", "pace"),
    [
        pytest.param({}, PaceStore.DATABASE, DatabaseBucket, id="default"),
        pytest.param(
            {"REDIS_URL": "redis://127.0.0.1:6379/0"}, PaceStore.REDIS, RedisBucket, id="redis-url"
        ),
        pytest.param(
            {"REDIS_URL": "redis://127.0.0.1:6379/0", "PACE_STORE": "database"},
            PaceStore.DATABASE,
            DatabaseBucket,
            id="database-chosen",
        ),
        pytest.param({"PACE_STORE": "process"}, PaceStore.PROCESS, Pacer, id="one-process"),
    ],
)
def test_workers_share_one_pace_in_the_database_or_redis_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], store: PaceStore, pace: type
) -> None:
    for name, value in {**environment, "SEND_RATE": "10"}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.pace_store is store
    db = make_db("sqlite://")  # building the pace connects to nothing
    try:
        dispatcher = build_dispatcher(settings, db=db, gateway=FakeGateway())
    finally:
        db.dispose()
    bucket = (
        dispatcher.pacer.store if isinstance(dispatcher.pacer, SharedPace) else dispatcher.pacer
    )
    assert isinstance(bucket, pace)
    # Slots run 1 % below the limit, shared or not: room for the hand-over's latency to vary.
    assert dispatcher.pacer is not None and dispatcher.pacer.rate == pytest.approx(9.9)
