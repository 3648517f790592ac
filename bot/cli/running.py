"""Running Parley: serve, clock, worker, db upgrade, chat."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

import click

from bot.campaigns.collector import freeze_start_up
from bot.cli.common import (
    configure_logging,
    main,
    redacted,
    require_migrated,
    settings_or_exit,
)

if TYPE_CHECKING:
    from flask import Flask

    from bot.services import Services
    from bot.settings import PaceStore, Settings
    from bot.timers.scheduler import TimerWork

RECONCILE_SECONDS = 30.0  # how often a dispatcher looks up texts whose fate is unknown


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default: HOST).")
@click.option("--port", type=int, default=None, help="Port to listen on (default: PORT).")
@click.option("--threads", type=int, default=8, show_default=True, help="Request threads.")
def serve(host: str | None, port: int | None, threads: int) -> None:
    """Run the web app in one process (SQLite and the console gateway by default)."""
    import threading

    from waitress import serve as waitress_serve

    from bot.app import services_of
    from bot.services import build_webhook_sender
    from bot.timers.scheduler import ClockBusy, ClockLock, build_scheduler

    configure_logging()
    settings = settings_or_exit()
    require_migrated(settings)
    app = _web_app(settings)
    host = host or settings.HOST
    port = port or settings.PORT
    click.echo(
        f"Parley for {settings.BRAND_NAME} on http://{host}:{port}  "
        f"(database {redacted(settings.DATABASE_URL)}, gateway {settings.GATEWAY})"
    )
    services = services_of(app)
    # Before any thread starts: what they hold then would be frozen with the app (bot/campaigns/
    # collector.py), and a campaign the scheduler sends first would freeze before the collection.
    freeze_start_up()
    lock = ClockLock(services.db)
    scheduler = None
    try:
        lock.acquire(wait=False)
    except ClockBusy:
        click.echo("A separate `bot clock` is running: this process will not fire timers.")
    else:
        scheduler = build_scheduler(_clock_work(services), blocking=False)
        scheduler.start()
    stop_sending = threading.Event()
    sender = threading.Thread(
        target=services.dispatcher.run_forever,
        args=(stop_sending,),
        kwargs={"reconcile_every": RECONCILE_SECONDS},
        name="parley-dispatcher",
        daemon=True,
    )
    sender.start()
    webhooks = build_webhook_sender(settings, db=services.db, clock=services.conversations.clock)
    poster = threading.Thread(
        target=webhooks.run_forever, args=(stop_sending,), name="parley-webhooks", daemon=True
    )
    poster.start()
    try:
        waitress_serve(app, host=host, port=port, threads=threads, ident="parley")
    finally:
        stop_sending.set()
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        sender.join(timeout=10)
        poster.join(timeout=10)
        lock.release()


@main.command()
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="When another clock runs: wait to take over, or exit at once with status 1.",
)
def clock(wait: bool) -> None:
    """The scheduler alone (the Procfile's `clock`): exactly one per deployment."""
    from bot.app import services_of
    from bot.timers.scheduler import ClockBusy, ClockLock, build_scheduler

    configure_logging()
    settings = settings_or_exit()
    require_migrated(settings)
    services = services_of(_web_app(settings))
    lock = ClockLock(services.db)
    try:
        lock.acquire(wait=wait)
    except ClockBusy as error:
        raise click.ClickException(f"{error}; this clock is not needed (exit)") from None
    except KeyboardInterrupt:
        return
    click.echo(f"Clock running against {redacted(settings.DATABASE_URL)}; Ctrl-C stops it.")
    freeze_start_up()
    try:
        build_scheduler(_clock_work(services), blocking=True).start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        lock.release()


def _clock_work(services: Services) -> TimerWork:
    """The clock's work: due timers and idle takeovers, Shopify webhooks to (re)try, and
    campaign test splits to decide."""
    from bot.campaigns.decision import decision_chore
    from bot.shopify.processing import clock_chore
    from bot.timers.scheduler import timer_work

    return timer_work(services, [clock_chore(services), decision_chore(services)])


def _web_app(settings: Settings) -> Flask:
    """The app, or a one-line error when no SECRET_KEY is set or stored."""
    from bot.app import create_app
    from bot.store.secret_key import NoSecretKey

    try:
        return create_app(settings)
    except NoSecretKey as error:
        raise click.ClickException(str(error)) from None


@main.group()
def db() -> None:
    """Database schema."""


@db.command()
def upgrade() -> None:
    """Apply every migration the database has not had yet."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.store.migrate import current_head
    from bot.store.migrate import upgrade as run_upgrade
    from bot.store.schema import classify

    settings = settings_or_exit()
    try:
        run_upgrade(settings.DATABASE_URL)
    except SQLAlchemyError as error:
        raise click.ClickException(classify(error).message()) from None
    click.echo(f"{redacted(settings.DATABASE_URL)} is at revision {current_head()}")


@main.command()
@click.option("--phone", required=True, help="The number you are texting from, e.g. +14155550100.")
def chat(phone: str) -> None:
    """A terminal phone: text the bot without Twilio, on a scratch copy of your profile.

    /help lists commands; Ctrl-D ends.
    """
    from bot.authoring.chat import ChatSession
    from bot.domain.phones import InvalidPhone, normalise_phone

    settings = settings_or_exit()
    require_migrated(settings)
    try:
        sender = normalise_phone(phone, settings.DEFAULT_COUNTRY)
    except InvalidPhone as error:
        raise click.BadParameter(str(error), param_hint="--phone") from None
    logging.basicConfig(level=logging.ERROR)
    click.echo(
        f"Texting {settings.BRAND_NAME} as {sender}. Try HELP, JOIN, SURVEY, STOP; "
        "/help for commands. Ctrl-D ends."
    )
    session = ChatSession(settings, sender, say=click.echo)
    interactive = sys.stdin.isatty()
    try:
        while True:
            if interactive:
                click.echo("you> ", nl=False)
            line = sys.stdin.readline()
            if not line:
                break
            session.handle(line.rstrip("\n"))
    finally:
        session.close()


def pace_told(store: PaceStore) -> str:
    """Whose pace SEND_RATE is, for the worker's first log line."""
    from bot.settings import PaceStore

    if store is PaceStore.PROCESS:
        return "this process's own pace: PACE_STORE=process"
    return f"one pace for every worker, kept in the {store}"


@main.command()
@click.option(
    "--reconcile-every",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds between passes that settle texts whose fate is unknown.",
)
def worker(reconcile_every: float) -> None:
    """An outbox dispatcher and webhook sender (the Procfile's `worker`): run any number, on any
    machine."""
    import signal
    import threading

    from bot.services import build_dispatcher, build_gateway, build_webhook_sender
    from bot.store.db import make_db

    configure_logging()
    settings = settings_or_exit()
    require_migrated(settings)
    log = logging.getLogger("bot.worker")
    db = make_db(settings.DATABASE_URL)
    dispatcher = build_dispatcher(settings, db=db, gateway=build_gateway(settings))
    webhooks = build_webhook_sender(settings, db=db)
    # The dispatcher's own event: setting it also ends a wait for the pace at once, so a text
    # not yet begun goes back to the outbox instead of holding the stop up for its slot.
    stop = dispatcher.stopping

    def request_stop(signum: int, _frame: object) -> None:
        log.info("%s: finishing the text in hand, then stopping", signal.Signals(signum).name)
        stop.set()

    # The loops run in threads so that the main thread, idle in join(), takes the signals;
    # webhooks have their own, so a slow receiver never holds up a text.
    loop = threading.Thread(
        target=dispatcher.run_forever,
        args=(stop,),
        kwargs={"reconcile_every": reconcile_every},
        name="dispatcher",
    )
    poster = threading.Thread(target=webhooks.run_forever, args=(stop,), name="webhooks")
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log.info(
        "worker %s: sending through the %s gateway at %s segments/s (%s) from %s; "
        "reconciling every %s s",
        dispatcher.id,
        dispatcher.gateway.name,
        settings.SEND_RATE,
        pace_told(settings.pace_store),
        redacted(settings.DATABASE_URL),
        reconcile_every,
    )
    # A full collection over the worker's objects could make a text leave late
    # (bot/campaigns/collector.py).
    freeze_start_up()
    loop.start()
    poster.start()
    try:
        while loop.is_alive() and poster.is_alive():
            loop.join(0.5)
    finally:
        stop.set()
        loop.join()
        poster.join()
        db.dispose()
    log.info("worker %s stopped", dispatcher.id)
