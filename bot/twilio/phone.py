"""A phone texting a running Parley as Twilio would: a signed inbound webhook, then the
delivery reports of the replies its TwiML answer asked Twilio to send."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin

from bot.twilio.paths import INBOUND_SMS_PATH
from bot.twilio.signing import signed_request

TEST_ACCOUNT_SID = "AC" + "0" * 32  # the fake Twilio server's default account
# What Twilio reports of a reply it hands to the handset, in order.
REPLY_STATUSES = ("sent", "delivered")


class PhoneError(Exception):
    """The service could not be reached, or refused the text; says which and why."""


@dataclass(frozen=True)
class Delivered:
    """A status callback the service accepted for one reply."""

    url: str
    status: str


@dataclass(frozen=True)
class Texted:
    """The service's TwiML answer, and the delivery reports posted for its replies."""

    twiml: str
    reports: tuple[Delivered, ...]


@dataclass(frozen=True)
class Phone:
    """A number texting the service at `base_url`, signing with `auth_token` when there is one.

    `public_url` is the address Twilio was given (PUBLIC_URL): behind a proxy the service checks
    signatures against it, whatever address the request reached it at.
    """

    number: str
    base_url: str
    to: str
    auth_token: str | None = None
    public_url: str | None = None
    account_sid: str = TEST_ACCOUNT_SID

    def text(self, body: str, *, report_delivery: bool = True) -> Texted:
        """Send `body`; with `report_delivery`, report each reply delivered as Twilio would."""
        sid = "SM" + uuid.uuid4().hex
        form = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.account_sid,
            "From": self.number,
            "To": self.to,
            "Body": body,
            "NumMedia": "0",
        }
        url = f"{self.base_url}{INBOUND_SMS_PATH}"
        twiml = self._post(url, form, f"{self.public_url or self.base_url}{INBOUND_SMS_PATH}")
        reports = self._report_replies(twiml, url) if report_delivery else ()
        return Texted(twiml, reports)

    def _report_replies(self, twiml: str, request_url: str) -> tuple[Delivered, ...]:
        """Post sent, then delivered, to each <Message action="…"> of the answer."""
        reports = []
        for action in reply_actions(twiml):
            # A relative action is resolved against the webhook's URL, as Twilio does.
            target = urljoin(request_url, action)
            signed_as = urljoin(f"{self.public_url or self.base_url}{INBOUND_SMS_PATH}", action)
            sid = "SM" + uuid.uuid4().hex
            for status in REPLY_STATUSES:
                form = status_callback_form(
                    self.account_sid, sid, status, sender=self.to, to=self.number
                )
                self._post(target, form, signed_as)
                reports.append(Delivered(target, status))
        return tuple(reports)

    def _post(self, url: str, form: Mapping[str, str], signed_as: str) -> str:
        request = signed_request(url, form, self.auth_token, signed_url=signed_as)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return str(answer.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace").strip()
            raise PhoneError(f"{url} answered {error.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise PhoneError(
                f"nothing answers at {url} ({reason}): is `bot serve` running there?"
            ) from None


def status_callback_form(
    account_sid: str, sid: str, status: str, *, sender: str, to: str
) -> dict[str, str]:
    """The form Twilio posts to a text's status callback."""
    return {
        "AccountSid": account_sid,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "From": sender,
        "To": to,
        "ApiVersion": "2010-04-01",
    }


def reply_actions(twiml: str) -> list[str]:
    """The status callback URL of each reply in a TwiML answer (our own service's answer)."""
    try:
        root = ElementTree.fromstring(twiml)
    except ElementTree.ParseError:
        return []
    return [message.get("action", "") for message in root.iter("Message") if message.get("action")]
