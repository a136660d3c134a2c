"""What every command group shares: the Typer app, common options, settings and running."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from hookline.config import Settings

app = typer.Typer(
    name="hookline",
    help="Hookline: webhook delivery for messaging, email and phone platforms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)

#: how ``hookline --help`` groups the commands
SERVER_PANEL = "Running Hookline"
CLIENT_PANEL = "Speaking to a server"
RECEIVER_PANEL = "Receiving webhooks"

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="HOOKLINE_DATABASE_URL",
        help="sqlite:///path or postgresql://…",
        show_envvar=True,
    ),
]
Host = Annotated[
    str | None,
    typer.Option("--host", envvar="HOOKLINE_HOST", help="Address to listen on.", show_envvar=True),
]
Port = Annotated[
    int | None,
    typer.Option("--port", envvar="HOOKLINE_PORT", help="Port to listen on.", show_envvar=True),
]
LogLevel = Annotated[
    str | None,
    typer.Option(
        "--log-level",
        envvar="HOOKLINE_LOG_LEVEL",
        help="debug, info, warning or error.",
        show_envvar=True,
    ),
]


def load_settings(**overrides: Any) -> Settings:
    # imported here: the client commands never need the server's settings (or pydantic)
    from pydantic import ValidationError

    from hookline.config import Settings

    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = Settings(**given)
    except ValidationError as exc:
        for e in exc.errors():
            where = ".".join(str(p) for p in e["loc"]) or "settings"
            err.print(f"[red]invalid setting[/red] HOOKLINE_{where.upper()}: {e['msg']}")
        raise typer.Exit(2) from None
    except ValueError as exc:
        err.print(f"[red]invalid setting:[/red] {exc}")
        raise typer.Exit(2) from None
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # at debug level these would log every statement's parameters: stored ciphertexts and,
    # from earlier versions, plain header values
    for noisy in ("sqlalchemy", "aiosqlite", "asyncpg"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    return settings


def run(coro: Any) -> None:
    import uvloop

    from hookline.server import SchemaNotCurrent
    from hookline.services.master_key import WrongSecretKey
    from hookline.services.secretbox import SecretUnreadable

    try:
        # libuv's loop: fewer wake-ups and cheaper sockets than asyncio's own
        uvloop.run(coro)
    except (SchemaNotCurrent, WrongSecretKey, SecretUnreadable) as exc:
        # one line, however narrow the terminal
        err.print(str(exc), style="red", soft_wrap=True, markup=False, highlight=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        pass
