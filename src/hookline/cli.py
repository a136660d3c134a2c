"""The ``hookline`` command. Every option also reads its ``HOOKLINE_*`` variable."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer
import uvloop
from pydantic import ValidationError
from rich.console import Console

from hookline import __version__
from hookline.config import Settings

app = typer.Typer(
    name="hookline",
    help="Hookline: webhook delivery for messaging, email and phone platforms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)

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


def _settings(**overrides: Any) -> Settings:
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
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    return settings


def _run(coro: Any) -> None:
    from hookline.server import SchemaNotCurrent

    try:
        # libuv's loop: fewer wake-ups and cheaper sockets than asyncio's own
        uvloop.run(coro)
    except SchemaNotCurrent as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        pass


@app.command()
def serve(
    database_url: DatabaseUrl = None,
    host: Host = None,
    port: Port = None,
    log_level: LogLevel = None,
) -> None:
    """Run the API and the delivery worker in one process (migrates on start)."""
    from hookline import server

    settings = _settings(database_url=database_url, host=host, port=port, log_level=log_level)
    _run(server.serve(settings, with_worker=True))


@app.command()
def api(
    database_url: DatabaseUrl = None,
    host: Host = None,
    port: Port = None,
    log_level: LogLevel = None,
) -> None:
    """Run the API only (the schema must be current: see `hookline migrate`)."""
    from hookline import server

    settings = _settings(database_url=database_url, host=host, port=port, log_level=log_level)
    _run(server.serve(settings, with_worker=False))


@app.command()
def worker(database_url: DatabaseUrl = None, log_level: LogLevel = None) -> None:
    """Run a delivery worker only. Run as many as you like against PostgreSQL."""
    from hookline import server

    _run(server.worker(_settings(database_url=database_url, log_level=log_level)))


@app.command()
def migrate(database_url: DatabaseUrl = None, log_level: LogLevel = None) -> None:
    """Bring the database schema up to date, then exit."""
    from hookline import server

    _run(server.migrate(_settings(database_url=database_url, log_level=log_level)))
    print("schema is current")


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


def main() -> None:
    app()
