"""``hookline keys list|create|revoke``: the organization's API keys."""

from __future__ import annotations

from typing import Annotated

import typer

from hookline.cli._client import (
    ApiKey,
    Json,
    Server,
    Yes,
    confirm,
    connect,
    emit_json,
    out,
    raw,
    table,
)
from hookline.cli._common import CLIENT_PANEL, app

keys = typer.Typer(help="API keys: list, create (shown once) and revoke.", no_args_is_help=True)
app.add_typer(keys, name="keys", rich_help_panel=CLIENT_PANEL)


@keys.command("list")
def list_(server: Server = None, api_key: ApiKey = None, json: Json = False) -> None:
    """List API keys (their prefixes only: a key is shown once, when made)."""
    with connect(server, api_key) as client:
        found = client.list_api_keys()
    if json:
        emit_json([raw(k) for k in found])
        return
    table(
        ["id", "prefix", "scope", "identity", "name", "created", "revoked"],
        (
            [k.id, k.prefix, k.scope, k.agent_identity_id, k.name, k.created_at, k.revoked_at]
            for k in found
        ),
        title="API keys",
    )


@keys.command()
def create(
    scope: Annotated[
        str, typer.Option("--scope", help="admin (the organization) or agent (one identity).")
    ] = "admin",
    agent_handle: Annotated[
        str | None, typer.Option("--agent-handle", help="The identity an agent key is bound to.")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="A name for people.")] = None,
    server: Server = None,
    api_key: ApiKey = None,
    json: Json = False,
) -> None:
    """Create an API key; the key is printed this once, so keep it now."""
    with connect(server, api_key) as client:
        created = client.create_api_key(scope, agent_handle=agent_handle, name=name)
    if json:
        emit_json(raw(created))
        return
    out.print(f"created {created.scope} key {created.id} (shown only this once):", highlight=False)
    print(created.key)


@keys.command()
def revoke(
    id: Annotated[str, typer.Argument(metavar="KEY_ID", help="The key's id (not the key itself).")],
    yes: Yes = False,
    server: Server = None,
    api_key: ApiKey = None,
) -> None:
    """Revoke an API key at once: requests with it are refused from now on."""
    confirm(f"Revoke API key {id}? Requests with it are refused at once.", yes)
    with connect(server, api_key) as client:
        client.revoke_api_key(id)
    print(f"revoked API key {id}")
