"""The tests' reuse of Werkzeug's URL builders (tests/support/route_builders.py) builds every
URL as Werkzeug would, and still applies to the Werkzeug installed."""

from __future__ import annotations

from flask import Flask, url_for

from tests.support.route_builders import install


def _app(first_page: int) -> Flask:
    app = Flask(__name__)
    app.add_url_rule("/chats/<int:chat_id>", "chat", lambda chat_id: "")
    app.add_url_rule("/pages/<int:page>", "page", lambda page: "", defaults={"page": first_page})
    return app


def _builds(app: Flask) -> tuple[str, str, str]:
    with app.test_request_context():
        return (
            url_for("chat", chat_id=7),
            url_for("chat", chat_id=7, q="a b&c"),
            url_for("page"),
        )


def test_it_applies_to_the_installed_werkzeug() -> None:
    """Fails where a Werkzeug release drops or changes the method it wraps (the suite would be
    slower, not wrong): check what the new one reads, then update CHECKED_SOURCE."""
    assert install() is True


def test_two_apps_with_the_same_rules_share_one_compiled_builder() -> None:
    install()
    first, second = _app(1), _app(1)
    first_rule = first.url_map._rules_by_endpoint["chat"][0]
    second_rule = second.url_map._rules_by_endpoint["chat"][0]
    assert first_rule._build.__func__ is second_rule._build.__func__
    assert _builds(first) == _builds(second) == ("/chats/7", "/chats/7?q=a+b%26c", "/pages/1")


def test_a_rule_whose_default_differs_gets_its_own_builder() -> None:
    install()
    assert _builds(_app(1))[2] == "/pages/1"
    assert _builds(_app(2))[2] == "/pages/2"
