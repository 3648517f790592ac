"""The `bot` command: serve, clock, worker, db upgrade, chat, flows, export."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from bot.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from bot.services import Services


RECONCILE_SECONDS = 30.0  # how often a dispatcher looks up texts whose fate is unknown


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def _configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Libraries that log every tick or request at INFO: our own lines say what matters.
    for chatty in ("apscheduler", "twilio.http_client"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def _require_migrated(settings: Settings) -> None:
    from bot.schema import schema_problem

    problem = schema_problem(settings.DATABASE_URL)
    if problem:
        raise click.ClickException(f"{problem}; run `bot db upgrade` first")


@click.group()
@click.version_option(package_name="parley")
def main() -> None:
    """Parley: two-way SMS conversations between a brand and its customers."""


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default: HOST).")
@click.option("--port", type=int, default=None, help="Port to listen on (default: PORT).")
@click.option("--threads", type=int, default=8, show_default=True, help="Request threads.")
def serve(host: str | None, port: int | None, threads: int) -> None:
    """Run the web app in one process (SQLite and the console gateway by default)."""
    import threading

    from waitress import serve as waitress_serve

    from bot.app import create_app, services_of
    from bot.clock import ClockBusy, ClockLock, build_scheduler

    _configure_logging()
    settings = _settings()
    _require_migrated(settings)
    app = create_app(settings)
    host = host or settings.HOST
    port = port or settings.PORT
    click.echo(
        f"Parley for {settings.BRAND_NAME} on http://{host}:{port}  "
        f"(database {_redacted(settings.DATABASE_URL)}, gateway {settings.GATEWAY})"
    )
    services = services_of(app)
    lock = ClockLock(services.engine)
    scheduler = None
    try:
        lock.acquire(wait=False)
    except ClockBusy:
        click.echo("A separate `bot clock` is running: this process will not fire timers.")
    else:
        scheduler = build_scheduler(_timer_work(services), blocking=False)
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
    try:
        waitress_serve(app, host=host, port=port, threads=threads, ident="parley")
    finally:
        stop_sending.set()
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        sender.join(timeout=10)
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
    from bot.app import create_app, services_of
    from bot.clock import ClockBusy, ClockLock, build_scheduler

    _configure_logging()
    settings = _settings()
    _require_migrated(settings)
    services = services_of(create_app(settings))
    lock = ClockLock(services.engine)
    try:
        lock.acquire(wait=wait)
    except ClockBusy as error:
        raise click.ClickException(f"{error}; this clock is not needed (exit)") from None
    except KeyboardInterrupt:
        return
    click.echo(f"Clock running against {_redacted(settings.DATABASE_URL)}; Ctrl-C stops it.")
    try:
        build_scheduler(_timer_work(services), blocking=True).start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        lock.release()


def _timer_work(services: Services) -> Callable[[], int]:
    """What each tick does: fire due timers and give idle takeovers back to the bot.

    Dispatchers send the texts this queues.
    """
    from datetime import timedelta

    from bot.takeover import release_idle

    idle_after = timedelta(minutes=services.settings.AGENT_IDLE_MINUTES)

    def work() -> int:
        fired = len(services.conversations.fire_due_timers())
        return fired + release_idle(services, idle_after=idle_after)

    return work


@main.group()
def db() -> None:
    """Database schema."""


@db.command()
def upgrade() -> None:
    """Apply every migration the database has not had yet."""
    from bot.migrate import current_head
    from bot.migrate import upgrade as run_upgrade

    settings = _settings()
    run_upgrade(settings.DATABASE_URL)
    click.echo(f"{_redacted(settings.DATABASE_URL)} is at revision {current_head()}")


@main.command()
@click.option("--phone", required=True, help="The number you are texting from, e.g. +14155550100.")
def chat(phone: str) -> None:
    """A terminal phone: text the bot without Twilio. /help lists commands; Ctrl-D ends."""
    from bot.chat import ChatSession
    from bot.phones import InvalidPhone, normalise_phone

    settings = _settings()
    _require_migrated(settings)
    try:
        sender = normalise_phone(phone, settings.DEFAULT_COUNTRY)
    except InvalidPhone as error:
        raise click.BadParameter(str(error), param_hint="--phone") from None
    logging.basicConfig(level=logging.ERROR)
    session = ChatSession(settings, sender, say=click.echo)
    click.echo(
        f"Texting {settings.BRAND_NAME} as {sender}. Try HELP, JOIN, SURVEY, STOP; "
        "/help for commands. Ctrl-D ends."
    )
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            click.echo("you> ", nl=False)
        line = sys.stdin.readline()
        if not line:
            break
        session.handle(line.rstrip("\n"))


@main.group()
def flows() -> None:
    """Check, test and document flow files."""


def _flow_paths(paths: tuple[Path, ...], settings: Settings) -> list[Path]:
    from bot.flow_registry import flow_files

    chosen: list[Path] = []
    for path in paths or (settings.FLOWS_DIR,):
        if path.is_dir():
            chosen.extend(flow_files(path))
        elif path.is_file():
            chosen.append(path)
        else:
            raise click.BadParameter(
                f"{path} is neither a flow file nor a folder", param_hint="PATH"
            )
    return chosen


def _checked(paths: tuple[Path, ...], settings: Settings) -> list:  # type: ignore[type-arg]
    from bot.actions.base import ActionError
    from bot.actions.factory import build_action_runner
    from bot.flow_registry import check_files
    from bot.keywords import load_vocabulary

    runner = build_action_runner(
        action_server_url=settings.ACTION_SERVER_URL, package=settings.ACTIONS_PACKAGE
    )
    try:
        action_names = runner.names()
    except ActionError as error:
        click.echo(f"warning: cannot list custom actions: {error}", err=True)
        action_names = None
    return check_files(
        _flow_paths(paths, settings),
        brand=settings.BRAND_NAME,
        vocabulary=load_vocabulary(settings.KEYWORDS_FILE, extra_join=settings.join_keywords),
        action_names=action_names,
    )


@flows.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def flows_check(paths: tuple[Path, ...]) -> None:
    """Check flow files (default: FLOWS_DIR); prints file:line: message, exits 1 on errors."""
    from bot.campaigns.parser import check_campaigns
    from bot.engine.problems import Severity

    settings = _settings()
    parsed = _checked(paths, settings)
    problems = sorted(problem for item in parsed for problem in item.problems)
    folders = [path for path in paths if path.is_dir()] if paths else [settings.FLOWS_DIR]
    for folder in folders:  # campaign files live in FLOWS_DIR/campaigns
        problems += check_campaigns(folder, brand=settings.BRAND_NAME)
    for problem in problems:
        click.echo(str(problem))
    errors = sum(problem.severity is Severity.ERROR for problem in problems)
    warnings = len(problems) - errors
    click.echo(f"{len(parsed)} flow files: {errors} errors, {warnings} warnings")
    if errors:
        sys.exit(1)


@flows.command("test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def flows_test(paths: tuple[Path, ...]) -> None:
    """Run the scripted conversations of flow files; exits 1 when one fails."""
    from bot.engine.problems import Severity
    from bot.flow_tests import FlowTestRunner

    settings = _settings()
    parsed = _checked(paths, settings)
    broken = [p for item in parsed for p in item.problems if p.severity is Severity.ERROR]
    for problem in broken:
        click.echo(str(problem))
    if broken:
        raise click.ClickException("fix the errors above first (`bot flows check`)")
    folders = {Path(item.file).parent for item in parsed} or {settings.FLOWS_DIR}
    if len(folders) > 1:
        raise click.ClickException("test the flows of one folder at a time")
    logging.basicConfig(level=logging.ERROR)
    runner = FlowTestRunner(folders.pop(), settings)
    outcomes = []
    try:
        for item in parsed:
            for outcome in runner.run_file(item):
                outcomes.append(outcome)
                click.echo(str(outcome))
    finally:
        runner.close()
    failed = sum(not outcome.passed for outcome in outcomes)
    click.echo(f"{len(outcomes) - failed} passed, {failed} failed")
    if failed:
        sys.exit(1)


@flows.command("docs")
def flows_docs() -> None:
    """Print the flow file reference (docs/flows.md is this output)."""
    from bot.engine.reference import flow_reference

    click.echo(flow_reference(), nl=False)


EXPORT_PROGRESS_EVERY = 10_000  # rows between progress lines when exporting to a file


@main.group()
def export() -> None:
    """Export stored data as CSV."""


@export.command("answers")
@click.option("--flow", "flow_name", required=True, help="The flow whose answers to export.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (replaced only once the export is complete) instead of stdout.",
)
def export_answers(flow_name: str, output: Path | None) -> None:
    """Write a flow's answers as CSV, oldest first."""
    from bot.db import make_engine
    from bot.results import answer_rows, has_answers

    settings = _settings()
    _require_migrated(settings)
    engine = make_engine(settings.DATABASE_URL)
    try:
        with engine.connect() as connection:
            if not has_answers(connection, flow_name) and flow_name not in _flow_names(
                settings.FLOWS_DIR
            ):
                raise click.ClickException(
                    f"no flow named {flow_name!r} in {settings.FLOWS_DIR} and no answers stored "
                    "for it; `bot flows check` lists the flows"
                )
            rows = answer_rows(connection, flow_name)
            if output is None:
                _write_csv_to_stdout(rows)
                return
            try:
                with _replaced_atomically(output) as stream:
                    count = _write_csv(stream, rows, progress=True)
            except OSError as error:
                raise click.ClickException(f"cannot write {output}: {error}") from None
            click.echo(f"wrote {count} answers to {output}", err=True)
    finally:
        engine.dispose()


def _flow_names(directory: Path) -> set[str]:
    from bot.engine.parser import read_flow_file
    from bot.flow_registry import flow_files

    parsed = (read_flow_file(path) for path in flow_files(directory))
    return {item.flow.name for item in parsed if item.flow is not None}


def _write_csv(stream: TextIO, rows: Iterable[tuple[object, ...]], *, progress: bool) -> int:
    """Write the header and the rows; returns how many rows were written."""
    import csv

    from bot.results import EXPORT_COLUMNS

    writer = csv.writer(stream)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for count, row in enumerate(rows, start=1):
        writer.writerow(row)
        if progress and count % EXPORT_PROGRESS_EVERY == 0:
            click.echo(f"{count} answers…", err=True)
    return count


def _write_csv_to_stdout(rows: Iterable[tuple[object, ...]]) -> None:
    import os

    try:
        _write_csv(sys.stdout, rows, progress=False)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (`| head`) went away: stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


@contextlib.contextmanager
def _replaced_atomically(path: Path) -> Iterator[TextIO]:
    """A temporary file next to `path` that becomes `path` only if the block succeeds."""
    import os
    import tempfile

    with tempfile.NamedTemporaryFile(
        "w",
        encoding="utf-8",
        newline="",
        dir=path.parent,
        prefix=f".{path.name}.",
        suffix=".tmp",
        delete=False,
    ) as handle:
        temporary = Path(handle.name)
        try:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            os.replace(temporary, path)
        except BaseException:
            handle.close()
            temporary.unlink(missing_ok=True)
            raise


@main.command()
@click.option(
    "--reconcile-every",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds between passes that settle texts whose fate is unknown.",
)
def worker(reconcile_every: float) -> None:
    """An outbox dispatcher (the Procfile's `worker`): run any number, on any machine."""
    import signal
    import threading

    from bot.db import make_engine
    from bot.gateways.factory import build_gateway
    from bot.services import build_dispatcher

    _configure_logging()
    settings = _settings()
    _require_migrated(settings)
    log = logging.getLogger("bot.worker")
    engine = make_engine(settings.DATABASE_URL)
    dispatcher = build_dispatcher(settings, engine=engine, gateway=build_gateway(settings))
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("%s: finishing the text in hand, then stopping", signal.Signals(signum).name)
        stop.set()

    # The loop runs in a thread so that the main thread, idle in join(), takes the signals.
    loop = threading.Thread(
        target=dispatcher.run_forever,
        args=(stop,),
        kwargs={"reconcile_every": reconcile_every},
        name="dispatcher",
    )
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log.info(
        "worker %s: sending through the %s gateway at %s segments/s from %s; "
        "reconciling every %s s",
        dispatcher.id,
        dispatcher.gateway.name,
        settings.SEND_RATE,
        _redacted(settings.DATABASE_URL),
        reconcile_every,
    )
    loop.start()
    try:
        while loop.is_alive():
            loop.join(0.5)
    finally:
        stop.set()
        loop.join()
        engine.dispose()
    log.info("worker %s stopped", dispatcher.id)


@main.group()
def agents() -> None:
    """Accounts for the agent inbox (/inbox)."""


def _agents_engine():  # type: ignore[no-untyped-def]
    from bot.db import make_engine

    settings = _settings()
    _require_migrated(settings)
    return make_engine(settings.DATABASE_URL)


@agents.command("add")
@click.argument("email")
@click.option("--name", required=True, help="The name customers never see and colleagues do.")
@click.option("--admin", is_flag=True, help="May disable and enable other agents.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of stdin (for scripts) instead of prompting.",
)
def agents_add(email: str, name: str, admin: bool, password_stdin: bool) -> None:
    """Create an agent who can log in to the inbox."""
    from bot.agents import AgentError, create_agent

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    engine = _agents_engine()
    try:
        agent = create_agent(engine, email, name, password, admin)
    except AgentError as error:
        raise click.ClickException(str(error)) from None
    finally:
        engine.dispose()
    role = "admin" if agent.is_admin else "agent"
    click.echo(f"created {role} {agent.email} ({agent.name}); log in at /inbox")


@agents.command("list")
def agents_list() -> None:
    """Every agent: email, name, role, status, last login."""
    from bot.agents import list_agents

    engine = _agents_engine()
    try:
        everyone = list_agents(engine)
    finally:
        engine.dispose()
    if not everyone:
        click.echo("no agents yet; add one with `bot agents add EMAIL --name NAME --admin`")
    for agent in everyone:
        last = (
            agent.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if agent.last_login_at else "never"
        )
        role = "admin" if agent.is_admin else "agent"
        status = "disabled" if agent.disabled else "enabled"
        click.echo(f"{agent.email}\t{agent.name}\t{role}\t{status}\tlast login {last}")


@agents.command("disable")
@click.argument("email")
def agents_disable(email: str) -> None:
    """Stop an agent from logging in; their open sessions end at once."""
    _set_agent_disabled(email, disabled=True)


@agents.command("enable")
@click.argument("email")
def agents_enable(email: str) -> None:
    """Let a disabled agent log in again."""
    _set_agent_disabled(email, disabled=False)


def _set_agent_disabled(email: str, *, disabled: bool) -> None:
    from bot.agents import AgentError, set_disabled

    engine = _agents_engine()
    try:
        agent = set_disabled(engine, email, disabled)
    except AgentError as error:
        raise click.ClickException(str(error)) from None
    finally:
        engine.dispose()
    click.echo(f"{agent.email} is {'disabled' if disabled else 'enabled'}")


@main.group()
def subscribers() -> None:
    """Subscribers in bulk: import, export, show and erase."""


def _subscribers_engine():  # type: ignore[no-untyped-def]
    from bot.db import make_engine

    settings = _settings()
    _require_migrated(settings)
    return settings, make_engine(settings.DATABASE_URL)


def _phone_argument(phone: str, settings: Settings) -> str:
    from bot.phones import InvalidPhone, normalise_phone

    try:
        return normalise_phone(phone, settings.DEFAULT_COUNTRY)
    except InvalidPhone as error:
        raise click.BadParameter(str(error), param_hint="PHONE") from None


@subscribers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--skip-bad",
    is_flag=True,
    help="Import the good rows and report the bad ones (default: import nothing if any is bad).",
)
def subscribers_import(file: Path, skip_bad: bool) -> None:
    """Import consented subscribers from CSV; prints FILE:LINE: column: message per refusal."""
    import csv

    from bot.bulk import ImportRaced, import_subscribers
    from bot.models import utcnow

    settings, engine = _subscribers_engine()
    try:
        with file.open(encoding="utf-8-sig", newline="") as stream:
            reader = csv.DictReader(stream)
            header = [name.strip().lower() for name in reader.fieldnames or ()]
            if "phone" not in header:
                raise click.ClickException(
                    f"{file}: the first line must be a header with a `phone` column"
                )
            report = import_subscribers(
                engine,
                reader,
                default_region=settings.DEFAULT_COUNTRY,
                now=utcnow(),
                source_name=str(file),
                skip_bad=skip_bad,
            )
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise click.ClickException(f"cannot read {file}: {error}") from None
    except ImportRaced as error:
        raise click.ClickException(str(error)) from None
    finally:
        engine.dispose()
    for line in report.lines():
        click.echo(line)
    click.echo(f"imported {report.imported}, merged {report.merged}, refused {len(report.refused)}")
    if report.refused and not report.written:
        click.echo("nothing was imported: fix the lines above and run again, or use --skip-bad")
    if report.refused:
        sys.exit(1)


@subscribers.command("export")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (replaced only once the export is complete) instead of stdout.",
)
def subscribers_export(output: Path | None) -> None:
    """Write every subscriber as CSV, with their latest consent event."""
    import csv
    import os

    from bot.bulk import EXPORT_COLUMNS, export_subscribers

    _, engine = _subscribers_engine()

    def write(stream: TextIO) -> int:
        writer = csv.DictWriter(stream, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        count = 0
        for count, row in enumerate(export_subscribers(engine), start=1):
            writer.writerow(row)
            if output is not None and count % EXPORT_PROGRESS_EVERY == 0:
                click.echo(f"{count} subscribers…", err=True)
        return count

    try:
        if output is None:
            try:
                write(sys.stdout)
                sys.stdout.flush()
            except BrokenPipeError:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                sys.exit(1)
            return
        try:
            with _replaced_atomically(output) as stream:
                count = write(stream)
        except OSError as error:
            raise click.ClickException(f"cannot write {output}: {error}") from None
        click.echo(f"wrote {count} subscribers to {output}", err=True)
    finally:
        engine.dispose()


@subscribers.command("show")
@click.argument("phone")
def subscribers_show(phone: str) -> None:
    """Everything stored about one number, as JSON (for a subject-access request)."""
    import json

    from bot.bulk import subscriber_record

    settings, engine = _subscribers_engine()
    number = _phone_argument(phone, settings)
    try:
        record = subscriber_record(engine, number)
    finally:
        engine.dispose()
    if record is None:
        raise click.ClickException(f"nothing is stored about {number}")
    click.echo(json.dumps(record, indent=2, ensure_ascii=False))


@subscribers.command("erase")
@click.argument("phone")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def subscribers_erase(phone: str, yes: bool) -> None:
    """Erase a person's data; the number stays opted out and is never texted again."""
    from bot.bulk import erase_subscriber
    from bot.models import utcnow

    settings, engine = _subscribers_engine()
    try:
        number = _phone_argument(phone, settings)
        if not yes:
            click.confirm(
                f"Erase everything about {number}? Their texts, answers and profile are "
                "blanked and the number is never texted again",
                abort=True,
            )
        erased = erase_subscriber(engine, number, utcnow())
    finally:
        engine.dispose()
    if not erased:
        raise click.ClickException(f"nothing is stored about {number}")
    click.echo(f"erased {number}: personal data removed; the number stays opted out")


@main.group()
def campaign() -> None:
    """List, preview, send and pause campaign files (FLOWS_DIR/campaigns)."""


def _campaigns(settings: Settings) -> dict:  # type: ignore[type-arg]
    from bot.campaigns.parser import read_campaigns

    parsed = read_campaigns(settings.FLOWS_DIR, brand=settings.BRAND_NAME)
    return {item.campaign.name: item for item in parsed if item.campaign is not None}


@campaign.command("list")
def campaign_list() -> None:
    """The campaigns that pass the check, with their variants and reply flow."""
    from bot.campaigns.parser import read_campaigns

    settings = _settings()
    parsed = read_campaigns(settings.FLOWS_DIR, brand=settings.BRAND_NAME)
    if not parsed:
        click.echo(f"no campaign files in {settings.FLOWS_DIR / 'campaigns'}")
    for item in parsed:
        found = item.campaign
        if found is None:
            click.echo(f"{item.file}: has errors (see `bot flows check`)")
            continue
        variants = ", ".join(f"{v.name} ({v.weight:g})" for v in found.variants)
        when = "now" if found.send_at is None else f"{found.send_at:%Y-%m-%d %H:%M} local"
        line = f"{found.name}: {found.description or found.file}; variants {variants}; {when}"
        click.echo(line + (f"; replies to {found.reply_flow}" if found.reply_flow else ""))


@campaign.command("preview")
@click.argument("name")
def campaign_preview(name: str) -> None:
    """Who would get campaign NAME, sample texts, segments, cost and time to send."""
    from datetime import UTC, datetime

    from bot.campaigns.audience import audience
    from bot.campaigns.preview import Pricing, describe, preview_campaign
    from bot.db import make_engine

    settings = _settings()
    known = _campaigns(settings)
    if name not in known:
        listed = ", ".join(sorted(known)) or "none"
        raise click.ClickException(
            f"no campaign named {name!r} that passes the check (known: {listed});"
            " see `bot flows check`"
        )
    _require_migrated(settings)
    found = known[name].campaign
    engine = make_engine(settings.DATABASE_URL)
    try:
        with engine.connect() as connection:
            preview = preview_campaign(
                found,
                audience(connection, found.segment),
                brand=settings.BRAND_NAME,
                support=settings.SUPPORT_CONTACT,
                pricing=Pricing(settings.PRICE_PER_SEGMENT, settings.CURRENCY, settings.SEND_RATE),
                default_zone=settings.DEFAULT_TIMEZONE,
                now=datetime.now(UTC),
            )
    finally:
        engine.dispose()
    click.echo(describe(preview))


@campaign.command("send")
@click.argument("name")
@click.option("--batch", type=int, default=500, show_default=True, help="People per transaction.")
def campaign_send(name: str, batch: int) -> None:
    """Queue campaign NAME for its segment; run it again to resume after a pause."""
    from bot.campaigns.send import CampaignNotFound, load_campaign, send_campaign
    from bot.services import build_services

    settings = _settings()
    try:
        load_campaign(settings, name)
    except CampaignNotFound as error:
        raise click.ClickException(str(error)) from None
    _require_migrated(settings)
    services = build_services(settings)
    try:
        with click.progressbar(length=0, label=f"Queueing {name}", show_pos=True) as bar:

            def progress(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)

            report = send_campaign(services, name, progress=progress, batch=batch)
    finally:
        services.engine.dispose()
    click.echo(
        f"{name}: {report.recipients:,} people in the segment; {report.queued:,} queued,"
        f" {report.skipped:,} skipped (already sent), {report.suppressed:,} suppressed by policy,"
        f" {report.deferred:,} deferred (quiet hours or frequency cap)"
    )
    if report.paused:
        click.echo(f"paused: run `bot campaign send {name}` to resume")


@campaign.command("pause")
@click.argument("name")
def campaign_pause(name: str) -> None:
    """Stop sending campaign NAME after the current batch (`bot campaign send` resumes)."""
    from bot.campaigns.send import CampaignNotFound, load_campaign, pause_campaign
    from bot.models import CampaignSendStatus
    from bot.services import build_services

    settings = _settings()
    try:
        load_campaign(settings, name)
    except CampaignNotFound as error:
        raise click.ClickException(str(error)) from None
    _require_migrated(settings)
    services = build_services(settings)
    try:
        status = pause_campaign(services, name)
    finally:
        services.engine.dispose()
    if status is None:
        raise click.ClickException(f"campaign {name!r} has not been sent yet: nothing to pause")
    if status is CampaignSendStatus.DONE:
        raise click.ClickException(f"campaign {name!r} is already queued in full: nothing to pause")
    click.echo(f"{name}: paused; `bot campaign send {name}` resumes it")


def _redacted(database_url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(database_url).render_as_string(hide_password=True)
