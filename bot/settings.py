"""Settings from the environment (and a `.env` file when present), in one typed object."""

from __future__ import annotations

import os
import re
from collections import ChainMap
from datetime import timedelta
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.domain.http_calls import Secrets
from bot.domain.phones import InvalidPhone, normalise_phone
from bot.domain.policy import PolicyRules, is_known_zone, parse_regional_hours, parse_window
from bot.domain.sending_rules import RULES_FILE, RuleBook, RulesFileError, load_rule_book
from bot.domain.signup_page import DEFAULT_CONSENT_TEXT
from bot.engine.durations import DurationError, format_duration, parse_duration
from bot.sending.outage import DEFAULT_RETRY_WINDOW, MAX_RETRY_WINDOW
from bot.webhooks.delivery import DEFAULT_RETRY_WINDOW as DEFAULT_WEBHOOK_RETRY_WINDOW

# A site that may frame the sign-up page: a scheme and a host (a leading *. for subdomains),
# maybe a port; nothing a Content-Security-Policy header could be split or widened with.
SHORT_CODE = re.compile(r"^[0-9]{3,8}$")  # a short code, texted as it is written
EMBED_ORIGIN = re.compile(r"^https?://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the variable."""


class GatewayName(StrEnum):
    CONSOLE = "console"
    TWILIO = "twilio"


class PaceStore(StrEnum):
    """Where the workers of a deployment keep the sender's token bucket (PACE_STORE)."""

    DATABASE = "database"  # one row per sender: every worker on DATABASE_URL shares it
    REDIS = "redis"  # one key per sender on REDIS_URL
    PROCESS = "process"  # each process alone: only right with a single worker


class Settings(BaseSettings):
    """Every knob Parley reads, with its default. Field names are the variable names."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True
    )

    DATABASE_URL: str = "sqlite:///data/bot.db"
    HOST: str = "127.0.0.1"
    PORT: int = Field(default=5000, ge=1, le=65535)
    BRAND_NAME: str = "Parley"
    SUPPORT_CONTACT: str = "support@example.com"
    DEFAULT_COUNTRY: str = "US"
    TWILIO_ACCOUNT_SID: str | None = None
    TWILIO_AUTH_TOKEN: str | None = None
    TWILIO_FROM: str | None = None
    TWILIO_MESSAGING_SERVICE_SID: str | None = None
    TWILIO_API_URL: str | None = None  # a stand-in for api.twilio.com: a fake in tests, a proxy
    # The sender's rate in segments a second: 1 for a long code, 10 toll-free, 100 a short code.
    SEND_RATE: float = Field(default=1.0, gt=0)
    # Where every worker takes its hand-over slots from, so that together they keep SEND_RATE:
    # the database by default, Redis when REDIS_URL is set, or `process` (each on its own).
    PACE_STORE: PaceStore | None = None
    REDIS_URL: str | None = None
    # How long a text the provider keeps failing (5xx, timeouts, an outage) is retried.
    SEND_RETRY_WINDOW: timedelta = DEFAULT_RETRY_WINDOW
    SEND_MAX_ATTEMPTS: int = Field(default=5, ge=1)  # deprecated: SEND_RETRY_WINDOW decides
    PUBLIC_URL: str | None = None
    API_KEY: str | None = None
    SECRET_KEY: str | None = None  # else the key `bot db upgrade` stored in the database
    # How many reverse proxies in front of Parley append to X-Forwarded-For/-Proto/-Host;
    # 0 trusts none of those headers (anyone can send them).
    TRUSTED_PROXIES: int = Field(default=0, ge=0, le=10)
    GATEWAY: GatewayName | None = None
    FLOWS_DIR: Path = Path("flows")
    FLOWS_RELOAD_SECONDS: float = Field(default=1.0, ge=0)  # how often to look for edits
    # What a person hears when they text something no flow step can take (the text goes to
    # the agents' queue), unless their flow sets `unexpected_reply`; empty: say nothing.
    UNEXPECTED_REPLY: str = "Thanks for your message! A person will get back to you shortly."
    AGENT_IDLE_MINUTES: float = Field(default=30, gt=0)  # an idle takeover goes back to the bot
    # An available agent without a request for this long counts as away (assignment).
    AGENT_AWAY_MINUTES: float = Field(default=15, gt=0)
    # Ask "How did we do?" (the `csat` flow) when an agent hands a chat back: the hand-back
    # form's box starts ticked when this is on; an agent may untick it for one chat.
    CSAT_AFTER_HAND_BACK: bool = False
    ACTION_SERVER_URL: str | None = None  # a Rasa action server; else actions run in-process
    ACTIONS_PACKAGE: str = "actions"  # the package of in-process rasa-sdk actions
    KEYWORDS_FILE: Path | None = None
    JOIN_KEYWORDS: str = ""  # comma-separated brand keywords that start a double opt-in
    # What joining gets a person, in a few words ("10% off your first order"): the double opt-in
    # invitation and the /join page name it; the welcome flow's coupon step gives it. "": none.
    INCENTIVE: str = Field(default="", max_length=200)
    MAX_BODY_CHARS: int = Field(default=1600, ge=1)
    SENDING_HOURS: str = "08:00-21:00"  # recipients' local hours for promotional texts
    SENDING_HOURS_BY_REGION: str = ""  # stricter windows: US=08:00-20:00,America/Chicago=…
    DEFAULT_TIMEZONE: str = "America/New_York"  # for recipients whose zone is unknown
    PROMOTIONAL_PER_DAY: int = Field(default=3, ge=0)  # per rolling 24 h; 0: no cap
    OVER_CAP: Literal["defer", "skip"] = "defer"
    # The operator's own sending rules, beside the shipped ones (README, "Compliance, by
    # construction"); unset: FLOWS_DIR/sending_rules.yaml when there is one.
    SENDING_RULES_FILE: Path | None = None
    # What one SMS segment costs, for campaign previews: 0.0079 is Twilio's US price.
    PRICE_PER_SEGMENT: float = Field(default=0.0079, gt=0)
    # What one MMS costs (a text with media: priced per message, not per segment): Twilio's US.
    PRICE_PER_MMS: float = Field(default=0.0200, gt=0)
    CURRENCY: str = "USD"
    ATTRIBUTION_DAYS: float = Field(default=7, gt=0)  # an order counts for a campaign this long
    # The key Shopify signs its webhooks with; unset, POST /shopify/webhooks answers 503.
    SHOPIFY_WEBHOOK_SECRET: str | None = None
    # Outbound webhooks (README, "Webhooks"): one endpoint here, or more in FLOWS_DIR's
    # webhooks.yaml; events a receiver keeps failing are retried this long.
    WEBHOOK_URL: str | None = None
    WEBHOOK_SECRET: str | None = None
    WEBHOOK_RETRY_WINDOW: timedelta = DEFAULT_WEBHOOK_RETRY_WINDOW
    # The sign-up page, /join (README, "Grow your list"): the consent wording beside its
    # checkbox ({brand} is filled in; the ledger keeps exactly what was shown), the number its
    # "text JOIN" link and QR code open (else TWILIO_FROM), and the sites that may show it in an
    # iframe (origins, space-separated). What it promises is INCENTIVE's.
    JOIN_CONSENT_TEXT: str = Field(default=DEFAULT_CONSENT_TEXT, min_length=20, max_length=2000)
    JOIN_SMS_NUMBER: str | None = None
    JOIN_EMBED_ORIGINS: str = ""
    # Sign-ups the page takes per hour from one address (a shop's own tablet shares one) and
    # for one number (each may send a text).
    JOIN_LIMIT_PER_ADDRESS: int = Field(default=30, ge=1)
    JOIN_LIMIT_PER_NUMBER: int = Field(default=3, ge=1)

    @field_validator(
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_FROM",
        "TWILIO_MESSAGING_SERVICE_SID",
        "TWILIO_API_URL",
        "PUBLIC_URL",
        "API_KEY",
        "SECRET_KEY",
        "KEYWORDS_FILE",
        "GATEWAY",
        "SHOPIFY_WEBHOOK_SECRET",
        "WEBHOOK_URL",
        "WEBHOOK_SECRET",
        "JOIN_SMS_NUMBER",
        "PACE_STORE",
        "REDIS_URL",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `FOO=` in a .env file means "not set", not "set to the empty string".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url_parses(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as error:
            raise ValueError(f"not a database URL ({error})") from None
        if url.get_backend_name() not in {"sqlite", "postgresql"}:
            raise ValueError("only sqlite:/// and postgresql:// URLs are supported")
        return value

    @field_validator("PUBLIC_URL", "TWILIO_API_URL", "ACTION_SERVER_URL", "WEBHOOK_URL")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @field_validator("JOIN_SMS_NUMBER")
    @classmethod
    def _join_number(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or SHORT_CODE.match(value.strip()):
            return value.strip() if value else None
        try:
            return normalise_phone(value, info.data.get("DEFAULT_COUNTRY", "US"))
        except InvalidPhone as error:
            raise ValueError(str(error)) from None

    @field_validator("JOIN_EMBED_ORIGINS")
    @classmethod
    def _embed_origins(cls, value: str) -> str:
        for origin in value.split():
            if not EMBED_ORIGIN.match(origin):
                raise ValueError(
                    f"{origin!r} is not a site's origin (https://shop.example.com, no path)"
                )
        return " ".join(value.split())

    @field_validator("SEND_RETRY_WINDOW", mode="before")
    @classmethod
    def _retry_window(cls, value: object) -> object:
        if isinstance(value, timedelta):
            window = value
        else:
            try:
                window = parse_duration(value)
            except DurationError as error:
                raise ValueError(str(error)) from None
        if window > MAX_RETRY_WINDOW:
            raise ValueError(
                f"{format_duration(window)} is longer than Twilio's 10-hour validity period"
                " (a text that late is no longer worth sending); use at most 10h"
            )
        return window

    @field_validator("WEBHOOK_RETRY_WINDOW", mode="before")
    @classmethod
    def _webhook_retry_window(cls, value: object) -> object:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(value)
        except DurationError as error:
            raise ValueError(str(error)) from None

    @field_validator("REDIS_URL")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @model_validator(mode="after")
    def _redis_pace_has_a_url(self) -> Settings:
        if self.PACE_STORE is PaceStore.REDIS and not self.REDIS_URL:
            raise ValueError("PACE_STORE=redis needs REDIS_URL (redis://host:6379/0)")
        return self

    @property
    def pace_store(self) -> PaceStore:
        """PACE_STORE, else Redis where REDIS_URL is set, else the database."""
        if self.PACE_STORE is not None:
            return self.PACE_STORE
        return PaceStore.REDIS if self.REDIS_URL else PaceStore.DATABASE

    @model_validator(mode="after")
    def _webhook_url_has_a_secret(self) -> Settings:
        if self.WEBHOOK_URL and not self.WEBHOOK_SECRET:
            raise ValueError("WEBHOOK_SECRET is required with WEBHOOK_URL (it signs the events)")
        return self

    @field_validator("DEFAULT_COUNTRY")
    @classmethod
    def _country_code(cls, value: str) -> str:
        if len(value) != 2 or not value.isalpha():
            raise ValueError("must be a two-letter country code such as US or GB")
        return value.upper()

    @field_validator("SENDING_HOURS")
    @classmethod
    def _sending_window(cls, value: str) -> str:
        parse_window(value)
        return value

    @field_validator("SENDING_HOURS_BY_REGION")
    @classmethod
    def _regional_windows(cls, value: str) -> str:
        parse_regional_hours(value)
        return value

    @field_validator("DEFAULT_TIMEZONE")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        if not is_known_zone(value.strip()):
            raise ValueError("must be an IANA time zone such as America/New_York")
        return value.strip()

    @model_validator(mode="after")
    def _regional_windows_fit_sending_hours(self) -> Settings:
        # A region whose window misses SENDING_HOURS entirely could never be texted: refuse
        # at start-up rather than suppress every promotional text there.
        default = parse_window(self.SENDING_HOURS)
        for place, window in parse_regional_hours(self.SENDING_HOURS_BY_REGION).items():
            if default.overlap(window) is None:
                raise ValueError(
                    f"SENDING_HOURS_BY_REGION: {place}={window} does not overlap"
                    f" SENDING_HOURS={default}, so nothing could ever be sent there"
                )
        return self

    @model_validator(mode="after")
    def _sending_rules_load(self) -> Settings:
        # Refused at start-up, naming file:line, rather than texting by rules half read.
        try:
            load_rule_book(self.sending_rules_file)
        except RulesFileError as error:
            raise ValueError(f"SENDING_RULES_FILE: {error}") from None
        return self

    @model_validator(mode="after")
    def _gateway_has_credentials(self) -> Settings:
        if self.GATEWAY is None:
            has_twilio = bool(self.TWILIO_ACCOUNT_SID and self.TWILIO_AUTH_TOKEN)
            self.GATEWAY = GatewayName.TWILIO if has_twilio else GatewayName.CONSOLE
        if self.GATEWAY is GatewayName.TWILIO:
            for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
                if not getattr(self, name):
                    raise ValueError(f"{name} is required when GATEWAY=twilio")
            if not (self.TWILIO_FROM or self.TWILIO_MESSAGING_SERVICE_SID):
                raise ValueError(
                    "TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID is required when GATEWAY=twilio"
                )
        return self

    @cached_property
    def join_keywords(self) -> tuple[str, ...]:
        """The brand's own JOIN keywords."""
        return tuple(word.strip() for word in self.JOIN_KEYWORDS.split(",") if word.strip())

    @property
    def agent_away_after(self) -> timedelta:
        """How long an available agent may go without a request before they count as away."""
        return timedelta(minutes=self.AGENT_AWAY_MINUTES)

    @property
    def sending_rules_file(self) -> Path:
        """Where the operator's sending rules are: SENDING_RULES_FILE, else in FLOWS_DIR."""
        return self.SENDING_RULES_FILE or self.FLOWS_DIR / RULES_FILE

    @cached_property
    def sending_rules(self) -> RuleBook:
        """The law's rules for marketing texts: the shipped ones with the operator's file."""
        return load_rule_book(self.sending_rules_file)

    @cached_property
    def policy_rules(self) -> PolicyRules:
        """The send policy's quiet hours, frequency cap and the law's rules by place."""
        return PolicyRules(
            sending_hours=parse_window(self.SENDING_HOURS),
            regional_hours=parse_regional_hours(self.SENDING_HOURS_BY_REGION),
            default_zone=self.DEFAULT_TIMEZONE,
            promotional_per_day=self.PROMOTIONAL_PER_DAY or None,
            over_cap=self.OVER_CAP,
            place_rules=self.sending_rules,
        )

    @cached_property
    def flow_secrets(self) -> Secrets:
        """Where http flow steps read `${NAME}`: the environment when the call is made, then
        the `.env` file; never one of these settings, which a flow must not send anywhere."""
        env_file = Path(str(self.model_config.get("env_file") or ".env"))
        from_file = {
            name: value
            for name, value in (dotenv_values(env_file) if env_file.is_file() else {}).items()
            if value is not None
        }
        return Secrets(ChainMap(os.environ, from_file), frozenset(type(self).model_fields))

    @property
    def join_number(self) -> str | None:
        """The number the sign-up page's "text JOIN" link and QR code open, if there is one."""
        return self.JOIN_SMS_NUMBER or self.TWILIO_FROM

    @property
    def signatures_required(self) -> bool:
        """Webhook signatures are checked whenever an auth token is set."""
        return bool(self.TWILIO_AUTH_TOKEN)


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; raise ConfigError naming the first bad variable."""
    try:
        return Settings(**overrides)  # values of any type: pydantic checks them
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if not location:  # a model-level check already names its variables
        return f"Bad configuration: {message}"
    shown = os.environ.get(location)
    secret = any(word in location for word in ("TOKEN", "KEY", "SECRET"))
    value = f" (got {shown!r})" if shown is not None and not secret else ""
    return f"Bad configuration: {location}{value}: {message}"
