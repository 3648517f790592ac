"""The webhook endpoints: WEBHOOK_URL, FLOWS_DIR/webhooks.yaml, and every problem at its line."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from bot.cli import main
from bot.conversations.flow_registry import flow_files
from bot.domain.vocabulary import WebhookEventType
from bot.engine.problems import Severity
from bot.settings import ConfigError, load_settings
from bot.webhooks.delivery import event_body
from bot.webhooks.endpoints import (
    ALL_EVENTS,
    EndpointSource,
    WebhooksFileError,
    check_webhooks_file,
    load_endpoints,
)
from bot.webhooks.signature import signature
from tests.support.webhook_receiver import documented_verify

GOOD = """\
endpoints:
  - name: crm
    url: https://crm.example.com/hooks/parley
    events: [subscriber.subscribed, subscriber.opted_out]
    secret_env: CRM_SECRET
  - name: mail
    url: http://127.0.0.1:9000/parley
    events: ["subscriber.*"]
    secret_env: MAIL_SECRET
"""
SECRETS = {"CRM_SECRET": "whsec_crm", "MAIL_SECRET": "whsec_mail"}


def write(folder: Path, text: str) -> Path:
    path = folder / "webhooks.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_file_lists_endpoints_with_their_events_and_secrets(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    endpoints = load_endpoints(
        tmp_path, webhook_url="https://all.example/hook", webhook_secret="s", environ=SECRETS
    )
    assert [endpoint.name for endpoint in endpoints] == ["crm", "default", "mail"]
    crm, default, mail = endpoints
    assert crm.events == {WebhookEventType.SUBSCRIBED, WebhookEventType.OPTED_OUT}
    assert mail.events == {
        WebhookEventType.SUBSCRIBED,
        WebhookEventType.OPTED_OUT,
        WebhookEventType.ERASED,
        WebhookEventType.UPDATED,  # "subscriber.*": the e-mail tool hears of new addresses
    }
    assert default.events == ALL_EVENTS and default.url == "https://all.example/hook"
    assert (crm.secret, mail.secret) == ("whsec_crm", "whsec_mail")
    assert "whsec" not in repr(crm)  # secrets stay out of logs
    assert [e.name for e in endpoints.wanting("subscriber.erased")] == ["default", "mail"]
    assert [e.name for e in endpoints.wanting("link.clicked")] == ["default"]


def test_no_file_and_no_url_is_no_endpoint(tmp_path: Path) -> None:
    assert len(load_endpoints(tmp_path, environ={})) == 0
    assert check_webhooks_file(tmp_path, environ={}) == []


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("endpoints: [\n", 2, "bad YAML"),
        ("- crm\n", 1, "a webhooks file holds `endpoints:`"),
        ("endpoints:\n  - name: crm\n    url: https://x.example\n", 2, "events: a list of"),
        (GOOD.replace("https://crm", "ftp://crm"), 3, "url: must start with http"),
        (GOOD.replace("subscriber.opted_out]", "subscriber.optedout]"), 4, "'subscriber.optedout'"),
        (GOOD.replace("name: mail", "name: crm"), 6, "'crm' is already defined on line 2"),
        (GOOD.replace("name: mail", "name: 'mail tool'"), 6, "an endpoint needs a name"),
        (GOOD.replace("secret_env: CRM_SECRET", "secret: abc"), 5, "name their variable with"),
        (GOOD.replace("CRM_SECRET", "NOT_SET_HERE"), 5, "NOT_SET_HERE is not set"),
        (GOOD + "retries: 3\n", 10, "unknown key 'retries'"),
    ],
)
def test_a_broken_file_names_its_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(WebhooksFileError) as raised:
        load_endpoints(tmp_path, environ=SECRETS)
    first = raised.value.problems[0]
    assert (first.file, first.line) == (str(path), line), raised.value
    assert message in first.message
    assert re.match(rf"{re.escape(str(path))}:{line}(:\d+)?: ", str(first)), first


def test_the_check_warns_of_a_secret_unset_where_it_runs(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    problems = check_webhooks_file(tmp_path, environ={"CRM_SECRET": "x"})
    assert [(p.line, p.severity) for p in problems] == [(9, Severity.WARNING)]
    assert check_webhooks_file(tmp_path, environ=SECRETS) == []


def test_the_name_default_belongs_to_webhook_url(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace("name: mail", "name: default"))
    assert len(load_endpoints(tmp_path, environ=SECRETS)) == 2
    with pytest.raises(WebhooksFileError, match="is WEBHOOK_URL's"):
        load_endpoints(
            tmp_path, webhook_url="https://x.example", webhook_secret="s", environ=SECRETS
        )


def test_a_broken_edit_keeps_the_last_good_endpoints(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = EndpointSource(tmp_path, environ=SECRETS)
    assert source.current() is not None and len(source.current() or ()) == 0
    write(tmp_path, GOOD)
    assert [endpoint.name for endpoint in source.current() or ()] == ["crm", "mail"]
    with caplog.at_level(logging.ERROR):
        write(tmp_path, GOOD.replace("events: [sub", "events: [nothing.here, sub"))
        assert [endpoint.name for endpoint in source.current() or ()] == ["crm", "mail"]
    assert "webhooks.yaml:4: events: unknown event type 'nothing.here'" in caplog.text


def test_a_file_broken_from_the_start_leaves_events_waiting(tmp_path: Path) -> None:
    write(tmp_path, "endpoints: 3\n")
    assert EndpointSource(tmp_path, environ=SECRETS).current() is None


def test_the_webhooks_file_is_no_flow(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    (tmp_path / "welcome.yaml").write_text("flow: welcome\n")
    assert [path.name for path in flow_files(tmp_path)] == ["welcome.yaml"]


def test_webhook_url_needs_a_secret() -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET is required with WEBHOOK_URL"):
        load_settings(_env_file=None, WEBHOOK_URL="https://crm.example/hook")
    with pytest.raises(ConfigError, match=r"WEBHOOK_URL.*http"):
        load_settings(_env_file=None, WEBHOOK_URL="crm.example/hook", WEBHOOK_SECRET="s")
    settings = load_settings(_env_file=None, WEBHOOK_RETRY_WINDOW="24h")
    assert settings.WEBHOOK_RETRY_WINDOW.total_seconds() == 86_400


def test_the_signature_is_the_hmac_of_the_timestamp_and_body_as_stripe_signs() -> None:
    body = event_body("evt_1", "ping", datetime(2026, 12, 4, 18, 0, tzinfo=UTC), {})
    assert body == b'{"id":"evt_1","type":"ping","created_at":"2026-12-04T18:00:00.000Z","data":{}}'
    expected = hmac.new(b"whsec", b"1764871200." + body, hashlib.sha256).hexdigest()
    assert signature("whsec", 1764871200, body) == f"t=1764871200,v1={expected}"


def test_bot_flows_check_checks_the_webhooks_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, GOOD.replace("subscriber.opted_out]", "subscriber.optout]"))
    monkeypatch.setenv("FLOWS_DIR", str(tmp_path))
    monkeypatch.setenv("CRM_SECRET", "x")
    result = CliRunner().invoke(main, ["flows", "check"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{path}:4: events: unknown event type 'subscriber.optout'; known: "
        + ", ".join(WebhookEventType),
        f"{path}:9: warning: secret_env: the variable MAIL_SECRET is not set",
        "0 flow files: 1 error, 1 warning",
    ]


@given(
    body=st.binary(max_size=2000), secret=st.text(min_size=1, max_size=64), at=st.integers(0, 2**33)
)
def test_the_documented_check_accepts_our_signature_and_nothing_else(
    body: bytes, secret: str, at: int
) -> None:
    verify = documented_verify()
    header = signature(secret, at, body)
    assert verify(body, header, secret, now=at)
    assert not verify(body + b"x", header, secret, now=at)
    assert not verify(body, header, secret + "x", now=at)
    assert not verify(body, header.replace("t=", "t=1"), secret, now=at)


@given(text=st.text(max_size=400))
def test_any_webhooks_file_loads_or_names_its_problems(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "webhooks.yaml").write_text(text, encoding="utf-8", errors="replace")
        try:
            load_endpoints(Path(folder), environ=SECRETS)
        except WebhooksFileError as error:
            assert error.problems and all(p.line >= 1 for p in error.problems)
