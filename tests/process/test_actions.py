"""Custom actions run in-process and on a real rasa-sdk action server, with the same results."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from actions.coupons import coupon_code
from bot.actions.base import ActionError, ActionRequest, ActionResult, ActionRunner
from bot.actions.factory import build_action_runner
from bot.actions.local import LocalActionRunner
from bot.actions.protocol import action_result
from bot.actions.remote import RemoteActionRunner
from bot.testing.processes import HUNG_AFTER, ROOT, free_port

SECRET = "test-coupon-secret"
PHONE = "+15551234567"
SAMPLES = "tests.support.action_samples"


def request_for(action: str = "action_issue_coupon", phone: str = PHONE, **slots: object):
    """A request as a flow step would make it."""
    return ActionRequest(
        action=action,
        phone=phone,
        slots=slots,
        latest_message="COUPON",
        flow="welcome",
        step="gift",
    )


def coupon_result(code: str, discount: int = 10) -> ActionResult:
    return ActionResult(
        texts=(f"Your code is {code}: {discount}% off, valid 7 days.",),
        slot_updates={"coupon_code": code},
    )


@pytest.fixture(autouse=True)
def _coupon_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUPON_SECRET", SECRET)


@pytest.fixture(scope="module")
def coupons() -> LocalActionRunner:
    return LocalActionRunner("actions")


@pytest.fixture(scope="module")
def samples() -> LocalActionRunner:
    return LocalActionRunner(SAMPLES)


# --- local: the example coupon action ---------------------------------------------------------


def test_coupon_is_texted_and_remembered(coupons: LocalActionRunner) -> None:
    result = coupons.run(request_for())

    code = result.slot_updates["coupon_code"]
    assert re.fullmatch(r"SAVE-[0-9A-F]{6}", code)
    assert code == coupon_code(PHONE, "default", SECRET)
    assert result == coupon_result(code)


def test_coupon_is_the_same_when_a_step_is_retried(coupons: LocalActionRunner) -> None:
    assert coupons.run(request_for()) == coupons.run(request_for())


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(request_for(phone="+15557654321"), id="another phone"),
        pytest.param(request_for(campaign="spring"), id="another campaign"),
    ],
)
def test_coupon_differs_per_phone_and_campaign(
    coupons: LocalActionRunner, other: ActionRequest
) -> None:
    first, second = coupons.run(request_for()), coupons.run(other)
    assert first.slot_updates["coupon_code"] != second.slot_updates["coupon_code"]


def test_coupon_text_uses_the_discount_slot(coupons: LocalActionRunner) -> None:
    result = coupons.run(request_for(discount_percent=15))
    assert result == coupon_result(coupon_code(PHONE, "default", SECRET), discount=15)


def test_a_runner_knows_only_its_own_package(
    coupons: LocalActionRunner, samples: LocalActionRunner
) -> None:
    # Both packages are imported in this process; rasa-sdk alone would register all of them.
    samples.names()
    assert coupons.names() == {"action_issue_coupon", "action_create_coupon"}
    assert samples.names() == {
        "action_crash",
        "action_echo_latest",
        "action_refuse",
        "action_send_poster",
    }


def test_images_and_the_last_slot_value_come_back(samples: LocalActionRunner) -> None:
    result = samples.run(request_for("action_send_poster", first_name="Ana"))

    assert result == ActionResult(
        texts=("Hi Ana, here is our poster.",),
        slot_updates={"poster": "sent"},
        media_urls=("https://example.test/poster.png",),
    )


# --- local: failures --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("package", "action", "expected"),
    [
        pytest.param(
            "actions",
            "action_nope",
            "action 'action_nope' (flow 'welcome', step 'gift') is not defined in package "
            "'actions' (it has: action_create_coupon, action_issue_coupon)",
            id="unknown action",
        ),
        pytest.param(
            SAMPLES,
            "action_crash",
            "action 'action_crash' (flow 'welcome', step 'gift') raised ValueError: "
            "coupon service said no",
            id="action raises",
        ),
        pytest.param(
            SAMPLES,
            "action_refuse",
            "action 'action_refuse' (flow 'welcome', step 'gift') rejected the call: not today",
            id="action rejects",
        ),
    ],
)
def test_local_failures_are_action_errors(package: str, action: str, expected: str) -> None:
    with pytest.raises(ActionError, match=re.escape(expected)):
        LocalActionRunner(package).run(request_for(action))


def test_a_missing_package_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    runner = LocalActionRunner("no_such_action_package", search_path=tmp_path)

    for attempt in (runner.names, lambda: runner.run(request_for())):
        with pytest.raises(ActionError, match="action package 'no_such_action_package' not found"):
            attempt()


def test_a_package_that_fails_to_import_is_an_action_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    package = tmp_path / "parley_test_broken_import"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "shop.py").write_text("import no_such_module_for_parley\n")

    runner = LocalActionRunner(package.name, search_path=tmp_path)
    with pytest.raises(ActionError, match="cannot import action package 'parley_test_broken_imp"):
        runner.names()


def test_a_package_beside_the_working_directory_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As under `bot serve`: the project folder is the working directory but not on sys.path.
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    package = tmp_path / "parley_test_cwd_actions"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "hello.py").write_text(
        "from rasa_sdk import Action\n\n\n"
        "class ActionHello(Action):\n"
        "    def name(self):\n"
        "        return 'action_hello'\n\n"
        "    def run(self, dispatcher, tracker, domain):\n"
        "        dispatcher.utter_message(text=f'Hello {tracker.sender_id}')\n"
        "        return []\n"
    )

    result = LocalActionRunner(package.name).run(request_for("action_hello"))

    assert result.texts == (f"Hello {PHONE}",)


def test_runs_from_a_thread_without_a_loop_and_from_inside_a_running_loop(
    coupons: LocalActionRunner,
) -> None:
    expected = coupons.run(request_for())
    from_thread: list[ActionResult] = []
    worker = threading.Thread(target=lambda: from_thread.append(coupons.run(request_for())))
    worker.start()
    worker.join()

    async def from_async_code() -> ActionResult:
        return coupons.run(request_for())

    assert from_thread == [expected]
    assert asyncio.run(from_async_code()) == expected


# --- the action-server protocol ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param([], "returned list, not an object", id="not an object"),
        pytest.param({"events": []}, "no 'events' and 'responses' lists", id="no responses"),
        pytest.param(
            {"events": [], "responses": ["hi"]}, "a response that is not an object", id="bad item"
        ),
        pytest.param(
            {"events": [], "responses": [{"text": None, "response": "utter_greet"}]},
            "uttered response 'utter_greet', which Parley cannot render",
            id="template only",
        ),
    ],
)
def test_bad_action_server_answers_are_action_errors(body: object, expected: str) -> None:
    with pytest.raises(ActionError, match=re.escape(expected)):
        action_result(request_for(), body)


# --- remote: a real rasa-sdk action server ----------------------------------------------------


def start_action_server(package: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """`python -m rasa_sdk` serving one package on 127.0.0.1, as an operator would run it."""
    env = {**os.environ, "COUPON_SECRET": SECRET, "SANIC_HOST": "127.0.0.1"}
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "rasa_sdk", "--actions", package, "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its Sanic workers share the group, so they stop together
        )


def wait_for_health(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + HUNG_AFTER
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"action server exited:\n{log.read_text()}")
        try:
            if requests.get(f"{base_url}/health", timeout=1).ok:
                return
        except (requests.ConnectionError, requests.Timeout):
            # Not listening yet, or listening but still starting its workers (a slow machine).
            time.sleep(0.05)
    raise AssertionError(f"action server at {base_url} never became healthy:\n{log.read_text()}")


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Ask politely until each server exits; kill its process group if it never does."""
    # Sanic drops a SIGTERM that comes right after its first /health answer, while its workers
    # are still starting, and then runs on forever; so the signal is repeated until it goes.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(process.poll() is None for process in processes):
        for process in processes:
            if process.poll() is None:
                process.terminate()
        time.sleep(0.2)
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def webhooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Webhook URLs of two real action servers, one per package, started side by side."""
    logs = tmp_path_factory.mktemp("action-servers")
    servers = {}
    for package in ("actions", SAMPLES):
        port, log = free_port(), logs / f"{package}.log"
        servers[package] = (
            f"http://127.0.0.1:{port}",
            start_action_server(package, port, log),
            log,
        )
    try:
        for base_url, process, log in servers.values():
            wait_for_health(base_url, process, log)
        yield {package: f"{base_url}/webhook" for package, (base_url, _, _) in servers.items()}
    finally:
        stop([process for _, process, _ in servers.values()])


def test_remote_coupon_matches_local(webhooks: dict[str, str], coupons: LocalActionRunner) -> None:
    remote = RemoteActionRunner(webhooks["actions"])

    result = remote.run(request_for(discount_percent=20))

    assert result == coupons.run(request_for(discount_percent=20))
    assert result == coupon_result(coupon_code(PHONE, "default", SECRET), discount=20)
    assert remote.names() is None


def test_remote_images_and_slots_match_local(
    webhooks: dict[str, str], samples: LocalActionRunner
) -> None:
    request = request_for("action_send_poster", first_name="Ana")
    assert RemoteActionRunner(webhooks[SAMPLES]).run(request) == samples.run(request)


@pytest.mark.parametrize(
    ("package", "action", "expected"),
    [
        pytest.param(
            "actions",
            "action_nope",
            "(HTTP 404): No registered action found for name 'action_nope'.",
            id="unknown action",
        ),
        pytest.param(
            SAMPLES, "action_crash", "(HTTP 500): coupon service said no", id="action raises"
        ),
        pytest.param(SAMPLES, "action_refuse", "(HTTP 400): not today", id="action rejects"),
    ],
)
def test_remote_failures_carry_the_servers_error(
    webhooks: dict[str, str], package: str, action: str, expected: str
) -> None:
    runner = RemoteActionRunner(webhooks[package])
    with pytest.raises(ActionError, match=re.escape(f"action '{action}'")) as failure:
        runner.run(request_for(action))
    assert expected in str(failure.value)


def test_a_server_that_is_down_is_an_action_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/webhook"
    with pytest.raises(ActionError, match=re.escape(f"cannot reach action server {url}")):
        RemoteActionRunner(url).run(request_for())


def test_a_server_that_never_answers_is_an_action_error() -> None:
    # A listening socket that never accepts: the connection opens, the answer never comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/webhook"
        with pytest.raises(ActionError, match=re.escape("did not answer within 0.2 s")):
            RemoteActionRunner(url, timeout=0.2).run(request_for())


# --- choosing a runner ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        pytest.param("http://127.0.0.1:5055/webhook", RemoteActionRunner, id="url: remote"),
        pytest.param(None, LocalActionRunner, id="no url: local"),
    ],
)
def test_the_factory_picks_remote_only_with_a_url(url: str | None, kind: type) -> None:
    runner: ActionRunner = build_action_runner(action_server_url=url)
    assert isinstance(runner, kind)


def test_the_silent_coupon_sets_the_same_code_without_texting(coupons: LocalActionRunner) -> None:
    uttered = coupons.run(request_for())
    silent = coupons.run(request_for("action_create_coupon"))
    assert silent.texts == ()
    assert silent.slot_updates == uttered.slot_updates
