"""`bot text`: text the running service as a phone would, through Twilio's webhook."""

from __future__ import annotations

import click

from bot.cli.common import main, settings_or_exit

# The number texted when TWILIO_FROM is not set: Twilio's magic test sender.
DEFAULT_TO = "+15005550006"


@main.command("text")
@click.argument("phone")
@click.argument("body")
@click.option(
    "--url",
    default=None,
    help="Where the service listens (default: PUBLIC_URL, else http://HOST:PORT).",
)
@click.option("--to", "to", default=None, help="The number texted (default: TWILIO_FROM).")
@click.option(
    "--no-delivery",
    is_flag=True,
    help="Do not report the replies delivered (Twilio's status callbacks).",
)
def text_command(phone: str, body: str, url: str | None, to: str | None, no_delivery: bool) -> None:
    """Text BODY from PHONE to the running service and print its TwiML answer.

    Signed as Twilio signs it (with TWILIO_AUTH_TOKEN when set), so a service that checks
    signatures takes it; then each reply is reported sent and delivered, as Twilio reports
    them: `bot text +14155550100 JOIN`.
    """
    from bot.twilio.phone import Phone, PhoneError

    settings = settings_or_exit()
    base = (url or settings.PUBLIC_URL or f"http://{settings.HOST}:{settings.PORT}").rstrip("/")
    handset = Phone(
        number=phone,
        base_url=base,
        to=to or settings.TWILIO_FROM or DEFAULT_TO,
        auth_token=settings.TWILIO_AUTH_TOKEN,
        public_url=settings.PUBLIC_URL.rstrip("/") if settings.PUBLIC_URL else None,
        **({"account_sid": settings.TWILIO_ACCOUNT_SID} if settings.TWILIO_ACCOUNT_SID else {}),
    )
    try:
        texted = handset.text(body, report_delivery=not no_delivery)
    except PhoneError as error:
        raise click.ClickException(str(error)) from None
    click.echo(texted.twiml)
    for report in texted.reports:
        click.echo(f"reported {report.status}: {report.url}", err=True)
