"""Which user agents are apps drawing a link preview (not clicks), and which are people."""

from __future__ import annotations

import pytest

from bot.domain.link_previews import is_link_preview

PREVIEWS = [
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "facebookexternalhit/1.1;line-poker/1.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko)"
    " Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",  # iMessage
    "Twitterbot/1.0",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Slackbot 1.0 (+https://api.slack.com/robots)",
    "WhatsApp/2.23.20.0 A",
    "WhatsApp/2.2337.7 i",
    "TelegramBot (like TwitterBot)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    " Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "redditbot/1.0",
    "Mastodon/4.2.1 (http.rb/5.1.1; +https://mastodon.social/)",
    "FACEBOOKEXTERNALHIT/1.1",  # any case
]
PEOPLE = [
    None,
    "",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like"
    " Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/119.0.0.0 Mobile Safari/537.36",
    # Facebook's and Instagram's in-app browsers: a person tapping the link inside the app.
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like"
    " Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/437.0.0.35.117;FBBV/533384427]",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like"
    " Gecko) Mobile/15E148 Instagram 307.0.0.34.111",
    "curl/8.4.0",
]


@pytest.mark.parametrize("agent", PREVIEWS)
def test_a_preview_fetcher_is_no_click(agent: str) -> None:
    assert is_link_preview(agent)


@pytest.mark.parametrize("agent", PEOPLE)
def test_a_browser_is_a_click(agent: str | None) -> None:
    assert not is_link_preview(agent)
