"""``hookline users``: console users (people; programs use API keys)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import typer

from hookline.cli._common import (
    SERVER_PANEL,
    DatabaseUrl,
    LogLevel,
    app,
    err,
    load_settings,
    run,
)
from hookline.core.errors import HooklineError

if TYPE_CHECKING:  # the server's modules, imported by the commands that use them
    from hookline.config import Settings
    from hookline.services.container import Services

users = typer.Typer(help="Console users: create, list, disable, reset passwords.")
app.add_typer(users, name="users", rich_help_panel=SERVER_PANEL)

Email = Annotated[str, typer.Option("--email", help="The user's email address.")]


def _password() -> str:
    """At a prompt, typed twice; piped, the first two lines of standard input, which must
    agree (so a script's typo cannot set a password nobody knows)."""
    if sys.stdin.isatty():
        value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return value
    first, second = sys.stdin.readline().rstrip("\r\n"), sys.stdin.readline().rstrip("\r\n")
    if first != second:
        err.print("[red]the two passwords on standard input differ[/red]")
        raise typer.Exit(2)
    return first


async def _with_services(settings: Settings, action: Callable[[Services], Awaitable[None]]) -> None:
    from hookline.server import prepare_users
    from hookline.services.container import Services

    services = Services.build(settings)
    try:
        await prepare_users(services)
        await action(services)
    except HooklineError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from None
    finally:
        await services.storage.close()


@users.command("create")
def create(
    email: Email,
    role: Annotated[str, typer.Option("--role", help="admin, agent or viewer.")] = "admin",
    agent_handle: Annotated[
        str | None, typer.Option("--agent-handle", help="The identity an agent user acts as.")
    ] = None,
    database_url: DatabaseUrl = None,
    log_level: LogLevel = None,
) -> None:
    """Create a user; the password is asked for (or read twice from standard input)."""
    settings = load_settings(database_url=database_url, log_level=log_level)
    password = _password()

    async def act(services: Services) -> None:
        user = await services.users.create(email, password, role, agent_handle)
        print(f"created {user.role} {user.email}")

    run(_with_services(settings, act))


@users.command("list")
def list_users(database_url: DatabaseUrl = None, log_level: LogLevel = None) -> None:
    """List the users: email, role, state."""
    settings = load_settings(database_url=database_url, log_level=log_level)

    async def act(services: Services) -> None:
        for user in await services.users.list():
            state = "disabled" if user.disabled_at_ms is not None else "active"
            print(f"{user.email}\t{user.role}\t{state}")

    run(_with_services(settings, act))


@users.command("disable")
def disable(email: Email, database_url: DatabaseUrl = None, log_level: LogLevel = None) -> None:
    """Disable a user; its sessions end at once."""
    settings = load_settings(database_url=database_url, log_level=log_level)

    async def act(services: Services) -> None:
        user = await services.users.disable(email)
        print(f"disabled {user.email}")

    run(_with_services(settings, act))


@users.command("reset-password")
def reset_password(
    email: Email, database_url: DatabaseUrl = None, log_level: LogLevel = None
) -> None:
    """Set a new password (asked for, or read twice from standard input); sessions end."""
    settings = load_settings(database_url=database_url, log_level=log_level)
    password = _password()

    async def act(services: Services) -> None:
        user = await services.users.reset_password(email, password)
        print(f"password of {user.email} reset; its sessions have ended")

    run(_with_services(settings, act))
