"""Link-preview fetchers: apps that load a link to draw its card, which is no one's click. Pure."""

from __future__ import annotations

import re

# Substrings of the user agents that chat apps, social networks and search engines send when
# they fetch a page to preview or index it (iMessage sends "facebookexternalhit/1.1 Facebot
# Twitterbot/1.0" inside a Safari user agent). Their in-app browsers (FBAN, Instagram, Line)
# send a person's real clicks and are not listed.
PREVIEW_AGENTS = (
    "facebookexternalhit",
    "Facebot",
    "Twitterbot",
    "Slackbot",  # Slackbot-LinkExpanding and Slackbot 1.0
    "Slack-ImgProxy",
    "WhatsApp/",
    "TelegramBot",
    "Discordbot",
    "LinkedInBot",
    "Applebot",
    "Googlebot",
    "Google-PageRenderer",
    "bingbot",
    "SkypeUriPreview",
    "redditbot",
    "Pinterestbot",
    "Embedly",
    "Iframely",
    "vkShare",
    "Mastodon/",
)
_PREVIEW = re.compile("|".join(re.escape(agent) for agent in PREVIEW_AGENTS), re.IGNORECASE)


def is_link_preview(user_agent: str | None) -> bool:
    """Whether a request comes from an app drawing a preview of the link, not a person."""
    return user_agent is not None and _PREVIEW.search(user_agent) is not None
