"""``hookline login`` and ``logout``: remember which server the client commands speak to."""

from __future__ import annotations

from typing import Annotated

import typer

from hookline.cli import _config
from hookline.cli._client import USAGE, ApiKey, Server, connect, fail, resolve
from hookline.cli._common import CLIENT_PANEL, app


@app.command(rich_help_panel=CLIENT_PANEL)
def login(
    server: Server = None,
    api_key: ApiKey = None,
    check: Annotated[
        bool,
        typer.Option("--check/--no-check", help="Try the key on the server before saving it."),
    ] = True,
) -> None:
    """Save the server and API key in your config file, for every client command after."""
    target = resolve(server, api_key)
    key = api_key
    if key is None:
        key = typer.prompt("API key", hide_input=True, err=True).strip()
    if not key:
        fail("an API key is needed (--api-key or HOOKLINE_API_KEY)", USAGE)
    if check:
        with connect(target.server, key) as client:
            # a call every key may make, agent keys too: does the server know the key?
            client.list_subscriptions(limit=1)
    path = _config.write(_config.Stored(server=target.server, api_key=key))
    print(f"logged in to {target.server}; saved in {path}")


@app.command(rich_help_panel=CLIENT_PANEL)
def logout() -> None:
    """Forget the saved server and API key."""
    path = _config.forget()
    print(f"removed {path}" if path else "not logged in")
