"""The sign-up page's words and links as values: source tags, the sms: link, the settings."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from bot.domain.signup_page import (
    InvalidSource,
    consent_wording,
    page_source,
    sms_link,
    wording_digest,
)
from bot.settings import ConfigError, load_settings
from bot.store.tables import CONSENT_EVENTS, max_length


@pytest.mark.parametrize(
    ("tag", "source"),
    [
        (None, "join-page"),
        ("", "join-page"),
        ("  ", "join-page"),
        ("instagram", "join-page:instagram"),
        (" Till-Receipt ", "join-page:till-receipt"),
        ("a" * 24, "join-page:" + "a" * 24),
    ],
)
def test_a_source_tag_names_where_the_visitor_came_from(tag: str | None, source: str) -> None:
    assert page_source(tag) == source
    assert len(source) <= max_length(CONSENT_EVENTS.c.source)


@pytest.mark.parametrize(
    "tag", ["a" * 25, "-lead", "two words", "émail", "x;y", "<b>", "a\x00", "utm=1"]
)
def test_any_other_tag_is_refused_saying_what_a_tag_may_be(tag: str) -> None:
    with pytest.raises(InvalidSource, match="is not a source tag"):
        page_source(tag)


def test_the_sms_link_opens_a_text_with_the_keyword_typed_in() -> None:
    link = sms_link("+14155550100", "JOIN")
    assert link == "sms:+14155550100?&body=JOIN"
    parts = urlsplit(link)
    assert (parts.scheme, parts.path) == ("sms", "+14155550100")
    assert parse_qs(parts.query) == {"body": ["JOIN"]}  # Android's ?body=, iOS's &body=
    assert sms_link("12345", "VIP DEALS").endswith("body=VIP%20DEALS")


def test_the_wording_names_the_brand_and_a_change_of_words_changes_the_digest() -> None:
    wording = consent_wording("Texts from {brand}. Reply STOP to cancel. ", brand="Acme")
    assert wording == "Texts from Acme. Reply STOP to cancel."
    assert wording_digest(wording) == wording_digest("Texts from Acme. Reply STOP to cancel.")
    assert wording_digest(wording) != wording_digest(wording + " ")


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("JOIN_EMBED_ORIGINS", "https://shop.example.com/page", "is not a site's origin"),
        ("JOIN_EMBED_ORIGINS", "https://a.example; script-src *", "is not a site's origin"),
        ("JOIN_EMBED_ORIGINS", "*", "is not a site's origin"),
        ("JOIN_SMS_NUMBER", "call us", "is not a phone number"),
        ("JOIN_CONSENT_TEXT", "ok", "at least 20"),
        ("JOIN_LIMIT_PER_NUMBER", "0", "greater than or equal to 1"),
    ],
)
def test_a_bad_join_setting_stops_start_up_naming_it(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError, match=name) as error:
        load_settings(_env_file=None, **{name: value})
    assert says in str(error.value)


def test_the_join_settings_as_read() -> None:
    settings = load_settings(
        _env_file=None,
        JOIN_EMBED_ORIGINS=" https://shop.example.com   https://*.myshopify.com ",
        JOIN_SMS_NUMBER="(415) 555-0100",
        TWILIO_FROM="+14155559999",
    )
    assert settings.JOIN_EMBED_ORIGINS == "https://shop.example.com https://*.myshopify.com"
    assert settings.join_number == "+14155550100"
    assert load_settings(_env_file=None, TWILIO_FROM="+14155559999").join_number == "+14155559999"
    assert load_settings(_env_file=None, JOIN_SMS_NUMBER="12345").join_number == "12345"
    assert load_settings(_env_file=None).join_number is None
