"""Agent accounts: bot agents add/list/disable/enable/set-password/unlock."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from bot.cli.common import (
    clock,
    main,
    migrated_db,
)

if TYPE_CHECKING:
    pass


@main.group()
def agents() -> None:
    """Accounts for the agent inbox (/inbox)."""


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
    from bot.accounts.agents import AgentError, create_agent

    password = _read_password(password_stdin)
    db = migrated_db()[1]
    try:
        agent = create_agent(db, email, name, password, admin, now=clock())
    except AgentError as error:
        raise click.ClickException(str(error)) from None
    finally:
        db.dispose()
    role = "admin" if agent.is_admin else "agent"
    click.echo(f"created {role} {agent.email} ({agent.name}); log in at /inbox")


@agents.command("list")
def agents_list() -> None:
    """Every agent: email, name, role, status, last login."""
    from bot.accounts.agents import list_agents

    db = migrated_db()[1]
    try:
        everyone = list_agents(db)
    finally:
        db.dispose()
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


@agents.command("set-password")
@click.argument("email")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of stdin (for scripts) instead of prompting.",
)
def agents_set_password(email: str, password_stdin: bool) -> None:
    """Give an agent a new password; every session of theirs ends at once."""
    from bot.accounts.agents import AgentError, set_password

    password = _read_password(password_stdin)
    db = migrated_db()[1]
    try:
        agent = set_password(db, email, password, now=clock())
    except AgentError as error:
        raise click.ClickException(str(error)) from None
    finally:
        db.dispose()
    click.echo(f"{agent.email} has a new password; their sessions have ended")


@agents.command("unlock")
@click.argument("email", required=False)
@click.option("--address", help="The client address whose failed logins to forget.")
def agents_unlock(email: str | None, address: str | None) -> None:
    """Forget failed logins: of EMAIL, of --address, or of that pair when both are given."""
    from bot.accounts.agents import AgentError, unlock

    db = migrated_db()[1]
    try:
        forgotten = unlock(db, email=email, remote_addr=address)
    except AgentError as error:
        raise click.ClickException(
            f"{error}: bot agents unlock EMAIL [--address ADDRESS]"
        ) from None
    finally:
        db.dispose()
    whose = " from ".join(part for part in (email, address) if part)
    click.echo(f"forgot {forgotten} failed login{'s' * (forgotten != 1)} of {whose}")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _set_agent_disabled(email: str, *, disabled: bool) -> None:
    from bot.accounts.agents import AgentError, set_disabled

    db = migrated_db()[1]
    try:
        agent = set_disabled(db, email, disabled, now=clock())
    except AgentError as error:
        raise click.ClickException(str(error)) from None
    finally:
        db.dispose()
    click.echo(f"{agent.email} is {'disabled' if disabled else 'enabled'}")
