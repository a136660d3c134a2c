"""What every command group shares: the Typer app, common options, settings and running."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from hookline import __version__
from hookline.config import SettingError, Settings

app = typer.Typer(
    name="hookline",
    help="Hookline: webhook delivery for messaging, email and phone platforms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# soft_wrap: a message stays one line however narrow the terminal (or 80 columns in a pipe)
err = Console(stderr=True, soft_wrap=True, highlight=False)
_DEFAULTS = Settings.model_fields


def _default(name: str) -> str:
    """A setting's default as ``--help`` shows it (the options themselves default to None, so
    that an option left out leaves its variable, then the setting's default, in force)."""
    return str(_DEFAULTS[name].default)


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
        show_default=_default("database_url"),
    ),
]
Host = Annotated[
    str | None,
    typer.Option(
        "--host",
        envvar="HOOKLINE_HOST",
        help="Address to listen on.",
        show_envvar=True,
        show_default=_default("host"),
    ),
]
Port = Annotated[
    int | None,
    typer.Option(
        "--port",
        envvar="HOOKLINE_PORT",
        help="Port to listen on.",
        show_envvar=True,
        show_default=_default("port"),
    ),
]
LogLevel = Annotated[
    str | None,
    typer.Option(
        "--log-level",
        envvar="HOOKLINE_LOG_LEVEL",
        help="debug, info, warning or error.",
        show_envvar=True,
        show_default=_default("log_level"),
    ),
]
Debug = Annotated[
    bool,
    typer.Option(
        "--debug",
        envvar="HOOKLINE_DEBUG",
        help="Show the traceback of an error at start, not only its one line.",
        show_envvar=True,
        show_default="off",
    ),
]


def with_options(
    options: Callable[..., object], *, into: str
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a block of options, declared once, to every command that takes it.

    ``options`` is a plain function whose parameters are the options, written as a command's
    are (``name: Name = None``), and whose result is what a command wants of them. The command
    has a parameter named ``into`` in the place the options should stand: its ``--help`` and
    its parsing show every option of the block there, and it receives ``options``' result in
    that parameter. (Typer reads a command's options from its signature, so the command is
    given a signature with the block written out.)
    """
    block = list(inspect.signature(options, eval_str=True).parameters.values())

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        own = inspect.signature(command, eval_str=True)
        if into not in own.parameters:
            raise TypeError(f"{command.__name__} has no parameter {into!r} for the options")
        taken = set(own.parameters) & {p.name for p in block}
        if taken:
            raise TypeError(f"{command.__name__} declares {sorted(taken)} already")
        params: list[inspect.Parameter] = []
        for p in own.parameters.values():
            params.extend(block if p.name == into else [p])

        @functools.wraps(command)
        def run(**given: Any) -> None:
            values = {p.name: given.pop(p.name) for p in block}
            command(**given, **{into: options(**values)})

        # Typer passes every parameter by name: keyword-only, they may stand in any order
        keyword_only = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params]
        run.__signature__ = own.replace(parameters=keyword_only)  # type: ignore[attr-defined]
        return run

    return decorate


def _print_version(value: bool) -> None:
    if value:
        print(__version__)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    pass


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr, then exit with ``code``."""
    err.print(f"[red]hookline:[/red] {escape(message)}")
    raise typer.Exit(code)


def load_settings(**overrides: Any) -> Settings:
    # imported here: the client commands never need the server's settings (or pydantic)
    from pydantic import ValidationError

    from hookline.config import Settings

    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = Settings(**given)
    except ValidationError as exc:
        for e in exc.errors():
            # a model-wide rule (a setting refused for what another says) names its setting
            cause = e.get("ctx", {}).get("error")
            name = ".".join(str(p) for p in e["loc"])
            if isinstance(cause, SettingError):
                name = cause.setting
            message = str(cause) if isinstance(cause, Exception) else e["msg"]
            where = f"HOOKLINE_{name.upper()}" if name else "settings"
            err.print(f"[red]hookline: invalid setting[/red] {where}: {escape(message)}")
        raise typer.Exit(2) from None
    except ValueError as exc:
        fail(f"invalid setting: {exc}", 2)
    from hookline.logs import configure

    configure(settings.log_level, settings.log_format)
    return settings


def run(coro: Any, *, debug: bool = False) -> None:
    """Run a process role; a StartupError, or a master key that does not open the stored
    secrets, is one line on stderr (its traceback with debug)."""
    import uvloop

    from hookline.services.master_key import WrongSecretKey
    from hookline.startup import StartupError

    try:
        # uvloop, asyncio's event loop written in C over libuv: it wakes less often and
        # spends less on each socket than asyncio's own
        uvloop.run(coro)
    except (StartupError, WrongSecretKey) as exc:
        if debug:
            raise
        fail(str(exc))
    except KeyboardInterrupt:
        pass
