"""What the client commands share: which server and key, the SDK client, one-line errors, and
output for people (Rich) or scripts (``--json``).

The CLI speaks to a server only through ``hookline_sdk.Client``: one road to the API.
Precedence of the server and key: the flag, then the environment (both read by Typer), then
the file ``hookline login`` wrote, then the default server.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from hookline.cli import _config
from hookline.cli._common import err
from hookline_sdk import (
    APIConnectionError,
    APIStatusError,
    Client,
    HooklineSDKError,
)

#: exit status of an error the server reported, or of a server that could not be reached
FAILED = 1
#: exit status of a command used wrongly (Typer's own for bad options)
USAGE = 2
#: exit status after Ctrl-C, as shells report a process ended by SIGINT
INTERRUPTED = 130

out = Console()

Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="HOOKLINE_SERVER",
        show_envvar=True,
        help=f"The Hookline server (else the login file, else {_config.DEFAULT_SERVER}).",
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="HOOKLINE_API_KEY",
        show_envvar=True,
        help="An admin or agent API key (else the login file).",
    ),
]
Json = Annotated[
    bool, typer.Option("--json", help="Print one JSON document (for scripts) instead of tables.")
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
Limit = Annotated[int, typer.Option("--limit", min=1, help="Show at most this many.")]


@dataclass(frozen=True, kw_only=True)
class ClientOptions:
    """The options of most client commands: which server and key, and whether to print JSON."""

    server: str | None
    api_key: str | None
    json: bool

    def connect(self) -> AbstractContextManager[Client]:
        """An SDK client for the chosen server (see :func:`connect`)."""
        return connect(self.server, self.api_key)

    def show(self, item: Any) -> None:
        """One SDK result: the server's JSON of it, or its fields as a table."""
        if self.json:
            emit_json(raw(item))
        else:
            details(raw(item))

    def show_list(
        self,
        items: Sequence[Any],
        columns: Sequence[str],
        row: Callable[[Any], Sequence[Any]],
        *,
        title: str,
    ) -> None:
        """SDK results: the server's JSON of each, or one ``row`` each under ``columns``."""
        if self.json:
            emit_json([raw(i) for i in items])
        else:
            table(columns, (row(i) for i in items), title=title)


def client_options(
    server: Server = None, api_key: ApiKey = None, json: Json = False
) -> ClientOptions:
    """``--server``, ``--api-key`` and ``--json``, for ``with_options(client_options, ...)``."""
    return ClientOptions(server=server, api_key=api_key, json=json)


@dataclass(frozen=True, kw_only=True)
class Target:
    server: str
    api_key: str | None


def resolve(server: str | None, api_key: str | None) -> Target:
    """The server and key to use; flags and environment come in already merged by Typer."""
    stored = _config.Stored()
    if server is None or api_key is None:
        try:
            stored = _config.read()
        except ValueError as exc:
            fail(str(exc), USAGE)
    chosen = (server or stored.server or _config.DEFAULT_SERVER).rstrip("/")
    if not chosen.startswith(("http://", "https://")):
        fail(f"the server must be an http:// or https:// URL, not {chosen!r}", USAGE)
    return Target(server=chosen, api_key=api_key if api_key is not None else stored.api_key)


@contextmanager
def connect(server: str | None, api_key: str | None) -> Iterator[Client]:
    """An SDK client for the chosen server; any SDK error becomes one line and exit 1."""
    target = resolve(server, api_key)
    # an empty key sends none, rather than letting the SDK read the environment again
    client = Client(target.server, api_key=target.api_key or "")
    try:
        yield client
    except APIStatusError as exc:
        fail(describe(exc))
    except APIConnectionError as exc:
        fail(f"cannot reach the Hookline server at {target.server}: {_reason(exc)}")
    except HooklineSDKError as exc:
        fail(f"unexpected answer from {target.server}: {exc}")
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise typer.Exit(INTERRUPTED) from None
    finally:
        client.close()


def describe(exc: APIStatusError) -> str:
    """``404 subscription 'x' not found``: the status and the server's own words, with every
    field it named."""
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    missing = [f"{e.field}: {e.message}" for e in exc.errors if e.field and e.field not in detail]
    if missing:
        detail += " (" + "; ".join(missing) + ")"
    return f"{exc.status_code} {detail}"


def _reason(exc: APIConnectionError) -> str:
    cause = exc.__cause__
    text = str(cause) if cause is not None else ""
    return text or (type(cause).__name__ if cause is not None else str(exc))


def fail(message: str, code: int = FAILED) -> NoReturn:
    """One line on stderr, then exit with ``code``."""
    # plain text: Rich would wrap a long line at its width and split the message
    sys.stderr.write(f"error: {' '.join(message.split())}\n")
    raise typer.Exit(code)


def confirm(question: str, yes: bool) -> None:
    """Ask before something that cannot be undone; ``--yes`` answers for the user."""
    if yes:
        return
    if not typer.confirm(question, default=False, err=True):
        sys.stderr.write("aborted\n")
        raise typer.Exit(FAILED)


# output


@contextmanager
def spinner(description: str) -> Iterator[None]:
    """A spinner on stderr while one long call runs (nothing when stderr is not a terminal)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        transient=True,
        console=err,
    ) as progress:
        progress.add_task(description, total=None)
        yield


def progress_bar() -> Progress:
    """A bar on stderr for work counted in items, so stdout stays for the result."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=err,
    )


def emit_json(document: Any) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False, default=str))


def raw(item: Any) -> Any:
    """The server's own JSON of an SDK result (every field, even ones the SDK does not name)."""
    return dict(item.raw)


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
    t = Table(title=title, header_style="bold")
    for c in columns:
        t.add_column(c, overflow="fold")
    count = 0
    for row in rows:
        t.add_row(*(Text(cell(v)) for v in row))
        count += 1
    if count:
        out.print(t)
    else:
        out.print(f"no {title or 'results'}" if title else "nothing found")


def details(fields: Mapping[str, Any], title: str | None = None) -> None:
    """One resource as a two-column table of its fields."""
    t = Table(title=title, show_header=False, box=None, padding=(0, 2, 0, 0))
    t.add_column(style="bold")
    t.add_column(overflow="fold")
    for name, value in fields.items():
        t.add_row(name, Text(cell(value)))
    out.print(t)


def cell(value: Any) -> str:
    """A value as table text: ``-`` for nothing, lists joined, objects as JSON."""
    if value is None or value == "" or value == {} or value == []:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def escape(text: str) -> str:
    """``text`` printed as is, even with Rich markup characters in it."""
    from rich.markup import escape as _escape

    return _escape(text)
