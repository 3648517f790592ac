"""What an MMS may carry: at most ten https URLs (Twilio's limits that can be checked offline)."""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_MEDIA = 10  # Twilio: at most 10 MediaUrl per message


def media_problems(urls: object) -> list[str]:
    """Why a `media:` value cannot go out as an MMS; empty when it can.

    Sizes (5 MB in all, per carrier less) and content types are the host's business: they can
    only be known by fetching, so they are documented, not checked.
    """
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or not urls:
        return ["media: give a list of https URLs, e.g. [https://cdn.example.com/boots.jpg]"]
    problems = []
    if len(urls) > MAX_MEDIA:
        problems.append(f"media: {len(urls)} URLs; a text carries at most {MAX_MEDIA}")
    for url in urls:
        problem = _url_problem(url)
        if problem:
            problems.append(f"media: {problem}")
    return problems


def _url_problem(url: object) -> str | None:
    if not isinstance(url, str) or not url.strip():
        return f"{url!r} is not a URL; write https://…"
    parts = urlsplit(url.strip())
    if parts.scheme == "http":
        return f"{url} must use https:// (Twilio fetches media over the internet; use TLS)"
    if parts.scheme != "https" or not parts.hostname or " " in url.strip():
        return f"{url!r} is not an https URL such as https://cdn.example.com/boots.jpg"
    return None
