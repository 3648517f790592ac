"""Flow files and their results: flows check/test/docs, export answers."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.common import (
    main,
    require_migrated,
    settings_or_exit,
    write_export,
)
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.domain.keywords import Vocabulary
    from bot.engine.parser import ParsedFile
    from bot.engine.problems import Problem


@main.group()
def flows() -> None:
    """Check, test and document flow files."""


def _flow_paths(paths: tuple[Path, ...], settings: Settings) -> list[Path]:
    from bot.conversations.flow_registry import flow_files

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


def _checked(
    paths: tuple[Path, ...], settings: Settings, action_names: frozenset[str] | None
) -> list[ParsedFile]:
    """The requested flow files, checked among every flow of their folders.

    Whether a keyword is taken or a start_flow target exists depends on the flows beside a
    file, as the service loads them, not on which files were named on the command line.
    """
    from bot.conversations.flow_registry import check_files, flow_files

    requested = _flow_paths(paths, settings)
    named = {path.resolve() for path in requested}
    neighbours = {
        path
        for folder in {path.parent for path in requested}
        for path in flow_files(folder)
        if path.resolve() not in named
    }
    checked = check_files(
        [*requested, *sorted(neighbours)],
        brand=settings.BRAND_NAME,
        vocabulary=_vocabulary(settings),
        action_names=action_names,
        secrets=settings.flow_secrets,
    )
    wanted = {str(path) for path in requested}
    return [item for item in checked if item.file in wanted]


def _vocabulary(settings: Settings) -> Vocabulary:
    from bot.domain.keywords import load_vocabulary

    return load_vocabulary(settings.KEYWORDS_FILE, extra_join=settings.join_keywords)


def _action_names(settings: Settings) -> frozenset[str] | None:
    """The custom actions flows may call; None (and a warning) when they cannot be listed."""
    from bot.actions.base import ActionError
    from bot.actions.factory import build_action_runner

    runner = build_action_runner(
        action_server_url=settings.ACTION_SERVER_URL, package=settings.ACTIONS_PACKAGE
    )
    try:
        return runner.names()
    except ActionError as error:
        click.echo(f"warning: cannot list custom actions: {error}", err=True)
        return None


def _offer_problems(
    folder: Path,
    settings: Settings,
    checked: list[ParsedFile],
    action_names: frozenset[str] | None,
) -> list[Problem]:
    """The problems of the folder's offers file, against the folder's flows."""
    from bot.conversations.flow_registry import check_files, check_offers, flow_files

    vocabulary = _vocabulary(settings)
    names = {item.file for item in checked}
    others = [path for path in flow_files(folder) if str(path) not in names]
    parsed = [*checked, *check_files(others, brand=settings.BRAND_NAME, vocabulary=vocabulary)]
    flows = {item.flow.name: item.flow for item in parsed if item.flow is not None}
    offers = check_offers(
        folder,
        flows,
        brand=settings.BRAND_NAME,
        vocabulary=vocabulary,
        action_names=action_names,
    )
    return offers.problems


@flows.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def flows_check(paths: tuple[Path, ...]) -> None:
    """Check flow files (default: FLOWS_DIR), with its campaigns, webhooks, offers, sending
    rules, saved replies, labels and business hours files; prints file:line: message, exits 1
    on errors."""
    from bot.authoring.flow_tests import check_tests
    from bot.campaigns.parser import check_campaigns
    from bot.conversations.team_files import check_labels, check_replies
    from bot.engine.problems import Severity
    from bot.webhooks.endpoints import check_webhooks_file

    settings = settings_or_exit()
    action_names = _action_names(settings)
    parsed = _checked(paths, settings, action_names)
    problems = sorted(problem for item in parsed for problem in item.problems)
    problems += [problem for item in parsed for problem in check_tests(item)]
    folders = [path for path in paths if path.is_dir()] if paths else [settings.FLOWS_DIR]
    for folder in folders:  # campaign files live in FLOWS_DIR/campaigns
        problems += check_campaigns(folder, brand=settings.BRAND_NAME)
        problems += check_webhooks_file(folder)
        problems += _sending_rules_problems(folder, settings)
        problems += _business_hours_problems(folder)
        problems += _offer_problems(folder, settings, parsed, action_names)
        problems += check_replies(folder).problems + check_labels(folder).problems
    for problem in problems:
        click.echo(str(problem))
    errors = sum(problem.severity is Severity.ERROR for problem in problems)
    warnings = len(problems) - errors
    click.echo(
        f"{_count(len(parsed), 'flow file')}: {_count(errors, 'error')}, "
        f"{_count(warnings, 'warning')}"
    )
    if errors:
        sys.exit(1)


def _sending_rules_problems(folder: Path, settings: Settings) -> list[Problem]:
    """The sending rules file's problems; an override of a shipped rule is a warning."""
    from bot.domain.sending_rules import RULES_FILE, check_rules_file
    from bot.engine.problems import Problem, Severity

    in_force = folder.resolve() == settings.FLOWS_DIR.resolve()
    path = settings.sending_rules_file if in_force else folder / RULES_FILE
    return [
        Problem(
            found.file,
            found.line,
            found.message,
            Severity.WARNING if found.warning else Severity.ERROR,
        )
        for found in check_rules_file(path)[1]
    ]


def _business_hours_problems(folder: Path) -> list[Problem]:
    """The business hours file's problems (file:line), if the folder has one."""
    from bot.domain.business_hours import check_hours_file
    from bot.engine.problems import Problem

    return [Problem(p.file, p.line, p.message) for p in check_hours_file(folder).problems]


@flows.command("test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def flows_test(paths: tuple[Path, ...]) -> None:
    """Run the scripted conversations of flow files; exits 1 when one fails."""
    from bot.authoring.flow_tests import FlowTestRunner
    from bot.engine.problems import Severity

    settings = settings_or_exit()
    parsed = _checked(paths, settings, _action_names(settings))
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
    from bot.conversations.results import EXPORT_COLUMNS, answer_rows, has_answers
    from bot.store.db import make_db

    settings = settings_or_exit()
    require_migrated(settings, writes=False)
    db = make_db(settings.DATABASE_URL)
    try:
        with db.connect() as connection:
            if not has_answers(connection, flow_name) and flow_name not in _flow_names(
                settings.FLOWS_DIR
            ):
                raise click.ClickException(
                    f"no flow named {flow_name!r} in {settings.FLOWS_DIR} and no answers stored "
                    "for it; `bot flows check` lists the flows"
                )
            write_export(EXPORT_COLUMNS, answer_rows(connection, flow_name), output, noun="answers")
    finally:
        db.dispose()


def _flow_names(directory: Path) -> set[str]:
    from bot.conversations.flow_registry import flow_files
    from bot.engine.parser import read_flow_file

    parsed = (read_flow_file(path) for path in flow_files(directory))
    return {item.flow.name for item in parsed if item.flow is not None}


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
