"""Picks the gateway the settings ask for."""

from __future__ import annotations

from bot.gateways.base import Gateway
from bot.gateways.console import ConsoleGateway
from bot.gateways.twilio import TwilioGateway
from bot.settings import GatewayName, Settings


def build_gateway(settings: Settings) -> Gateway:
    """The console gateway until Twilio credentials are set (or GATEWAY says otherwise)."""
    if settings.GATEWAY is GatewayName.TWILIO:
        assert settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN
        return TwilioGateway(
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
            from_number=settings.TWILIO_FROM,
            messaging_service_sid=settings.TWILIO_MESSAGING_SERVICE_SID,
            api_base_url=settings.TWILIO_API_URL,
        )
    return ConsoleGateway()
