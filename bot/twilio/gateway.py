"""The Twilio gateway: hands texts to Twilio's Messages API through the official client."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3 import exceptions as urllib3_exceptions

from bot.sending.gateways.base import OutboundText, ProviderLookupError, SendOutcome, SendResult

DEFAULT_TIMEOUT_SECONDS = 10.0
UNSUBSCRIBED_RECIPIENT = 21610  # Twilio: the recipient texted STOP to this sender


class MessageLookupError(ProviderLookupError):
    """Twilio could not be asked which messages it has; the answer is unknown, not empty."""


class RebasedHttpClient(TwilioHttpClient):
    """A TwilioHttpClient that sends every request to one base URL instead of *.twilio.com."""

    # The client builds absolute https://api.twilio.com/... URLs deep inside generated code;
    # the HttpClient is the one documented seam they all pass through, so we swap the origin here.

    def __init__(self, base_url: str, *, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base = urlsplit(base_url.rstrip("/"))

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        """Make the request against the base URL, keeping path and query."""
        target = urlsplit(url)
        rebased = target._replace(
            scheme=self.base.scheme,
            netloc=self.base.netloc,
            path=self.base.path + target.path,
        )
        return super().request(method, urlunsplit(rebased), *args, **kwargs)


class TwilioGateway:
    """Sends through Twilio; maps every provider answer to a SendResult and never raises."""

    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        api_base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        if not from_number and not messaging_service_sid:
            raise ValueError(
                "TwilioGateway needs a sender: set from_number (E.164) or messaging_service_sid"
            )
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        # The stock client neither retries nor backs off; our dispatcher owns retries.
        http_client = (
            RebasedHttpClient(api_base_url, timeout=timeout)
            if api_base_url
            else TwilioHttpClient(timeout=timeout)
        )
        self.client = Client(account_sid, auth_token, http_client=http_client)
        # The client imports its API's modules on first use: a few hundred milliseconds that
        # would land inside the first paced hand-over and bunch it with the next ones.
        self.client.messages  # noqa: B018

    def send(self, text: OutboundText) -> SendResult:
        """Hand one text to Twilio and say what happened."""
        try:
            message = self.client.messages.create(**self._create_params(text))
        except (TwilioRestException, TwilioServiceException) as exc:
            return _from_error_response(exc)
        except requests.RequestException as exc:
            return _from_transport_error(exc)
        except TwilioException as exc:  # e.g. an unreadable response body
            return SendResult(outcome=SendOutcome.FAILED, error_message=str(exc))
        return SendResult(
            outcome=SendOutcome.ACCEPTED, provider_sid=message.sid, status=message.status
        )

    def list_messages(
        self, *, to: str | None = None, date_sent_after: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Messages Twilio holds (newest first), to reconcile texts whose fate is unknown."""
        filters: dict[str, Any] = {}
        if to is not None:
            filters["to"] = to
        if date_sent_after is not None:
            filters["date_sent_after"] = date_sent_after
        try:
            messages = self.client.messages.list(**filters)
        except (TwilioException, requests.RequestException) as exc:
            # An empty list would read as "never sent" and invite a double send; say we don't know.
            raise MessageLookupError(f"could not list Twilio messages: {exc}") from exc
        return [
            {
                "sid": message.sid,
                "to": message.to,
                "body": message.body,
                "status": message.status,
                "date_created": message.date_created,
            }
            for message in messages
        ]

    def lookup(
        self, text: OutboundText, created_after: datetime, *, skip_sids: Collection[str] = ()
    ) -> SendResult | None:
        """Twilio's oldest copy of `text` since `created_after`, or None if it has none."""
        # Filtered by recipient only: a message still queued at Twilio has no DateSent yet, so
        # a DateSent filter would hide exactly the texts we are looking for. Twilio's dates have
        # whole seconds, hence the truncation.
        earliest = created_after.replace(microsecond=0)
        matches = [
            message
            for message in self.list_messages(to=text.to)  # raises MessageLookupError
            if message["body"] == text.body
            and message["sid"] not in skip_sids
            and message["date_created"] is not None
            and message["date_created"] >= earliest
        ]
        if not matches:
            return None
        oldest = min(matches, key=lambda message: message["date_created"])
        return SendResult(
            outcome=SendOutcome.ACCEPTED, provider_sid=oldest["sid"], status=oldest["status"]
        )

    def _create_params(self, text: OutboundText) -> dict[str, Any]:
        params: dict[str, Any] = {"to": text.to, "body": text.body}
        # With both set, Twilio lets the messaging service pick, so send only one.
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        else:
            params["from_"] = self.from_number
        if text.media_urls:
            params["media_url"] = list(text.media_urls)
        if text.status_callback_url:
            params["status_callback"] = text.status_callback_url
        return params


def _from_error_response(exc: TwilioRestException | TwilioServiceException) -> SendResult:
    """Map an HTTP error answer from Twilio to an outcome."""
    message = exc.msg if isinstance(exc, TwilioRestException) else exc.detail or exc.title
    if exc.code == UNSUBSCRIBED_RECIPIENT:
        outcome = SendOutcome.OPTED_OUT
    elif exc.status == 429 or exc.status >= 500:
        outcome = SendOutcome.RETRYABLE
    else:
        outcome = SendOutcome.FAILED
    return SendResult(outcome=outcome, error_code=exc.code, error_message=message)


def _from_transport_error(exc: requests.RequestException) -> SendResult:
    """Map a connection failure or timeout; flag it when Twilio may have the text already."""
    return SendResult(
        outcome=SendOutcome.RETRYABLE,
        error_message=f"{type(exc).__name__}: {exc}",
        maybe_accepted=not _never_reached_twilio(exc),
    )


def _never_reached_twilio(exc: requests.RequestException) -> bool:
    """True when the request provably never left: the connection itself failed."""
    # A refused or timed-out connect happens before a byte is sent. Anything later (read
    # timeout, dropped connection) may come after Twilio created the message.
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return isinstance(reason, urllib3_exceptions.NewConnectionError)
    return False
