"""``hookline owners identities|mailboxes|phone-numbers …``: the owner registry."""

from __future__ import annotations

import itertools
from typing import Annotated, Any

import typer

from hookline.cli._client import (
    USAGE,
    ApiKey,
    Json,
    Limit,
    Server,
    Yes,
    confirm,
    connect,
    details,
    emit_json,
    fail,
    out,
    raw,
    table,
)
from hookline.cli._common import CLIENT_PANEL, app

owners = typer.Typer(
    help="Owners of subscriptions: identities, mailboxes and phone numbers.",
    no_args_is_help=True,
)
identities = typer.Typer(help="Agent identities (by agent handle).", no_args_is_help=True)
mailboxes = typer.Typer(help="Mailboxes (by email address).", no_args_is_help=True)
numbers = typer.Typer(help="Phone numbers (by id) and their incoming calls.", no_args_is_help=True)
app.add_typer(owners, name="owners", rich_help_panel=CLIENT_PANEL)
owners.add_typer(identities, name="identities")
owners.add_typer(mailboxes, name="mailboxes")
owners.add_typer(numbers, name="phone-numbers")

Handle = Annotated[str, typer.Argument(metavar="AGENT_HANDLE", help="The agent handle.")]
Email = Annotated[str, typer.Argument(metavar="EMAIL", help="The mailbox's email address.")]
NumberId = Annotated[str, typer.Argument(metavar="NUMBER_ID", help="The number's id.")]
OwnerHandle = Annotated[
    str | None, typer.Option("--agent-handle", help="The identity that owns it.")
]


def _page_size(limit: int) -> int:
    return min(limit, 100)


def _show(item: Any, json: bool) -> None:
    if json:
        emit_json(raw(item))
    else:
        details(raw(item))


# identities


@identities.command("list")
def identities_list(
    limit: Limit = 100, server: Server = None, api_key: ApiKey = None, json: Json = False
) -> None:
    """List identities."""
    with connect(server, api_key) as client:
        found = list(itertools.islice(client.iter_identities(page_size=_page_size(limit)), limit))
    if json:
        emit_json([raw(i) for i in found])
    else:
        table(
            ["agent handle", "id", "created"],
            ([i.agent_handle, i.id, i.created_at] for i in found),
            title="identities",
        )


@identities.command("get")
def identities_get(
    agent_handle: Handle, server: Server = None, api_key: ApiKey = None, json: Json = False
) -> None:
    """Show one identity."""
    with connect(server, api_key) as client:
        _show(client.get_identity(agent_handle), json)


@identities.command("create")
def identities_create(
    agent_handle: Handle, server: Server = None, api_key: ApiKey = None, json: Json = False
) -> None:
    """Register an identity."""
    with connect(server, api_key) as client:
        _show(client.create_identity(agent_handle), json)


@identities.command("delete")
def identities_delete(
    agent_handle: Handle, yes: Yes = False, server: Server = None, api_key: ApiKey = None
) -> None:
    """Delete an identity."""
    confirm(f"Delete identity {agent_handle}?", yes)
    with connect(server, api_key) as client:
        client.delete_identity(agent_handle)
    print(f"deleted identity {agent_handle}")


# mailboxes


@mailboxes.command("list")
def mailboxes_list(
    limit: Limit = 100, server: Server = None, api_key: ApiKey = None, json: Json = False
) -> None:
    """List mailboxes with their webhook URLs."""
    with connect(server, api_key) as client:
        found = list(itertools.islice(client.iter_mailboxes(page_size=_page_size(limit)), limit))
    if json:
        emit_json([raw(m) for m in found])
    else:
        table(
            ["email address", "id", "identity", "webhook url"],
            ([m.email_address, m.id, m.agent_identity_id, m.webhook_url] for m in found),
            title="mailboxes",
        )


@mailboxes.command("get")
def mailboxes_get(
    email_address: Email, server: Server = None, api_key: ApiKey = None, json: Json = False
) -> None:
    """Show one mailbox."""
    with connect(server, api_key) as client:
        _show(client.get_mailbox(email_address), json)


@mailboxes.command("create")
def mailboxes_create(
    email_address: Email,
    agent_handle: OwnerHandle = None,
    server: Server = None,
    api_key: ApiKey = None,
    json: Json = False,
) -> None:
    """Register a mailbox, optionally owned by an identity."""
    with connect(server, api_key) as client:
        _show(client.create_mailbox(email_address, agent_handle), json)


@mailboxes.command("update")
def mailboxes_update(
    email_address: Email,
    webhook_url: Annotated[
        str | None, typer.Option("--webhook-url", help="Send all its events here.")
    ] = None,
    clear_webhook_url: Annotated[
        bool, typer.Option("--clear-webhook-url", help="Stop its all-events webhook.")
    ] = False,
    server: Server = None,
    api_key: ApiKey = None,
    json: Json = False,
) -> None:
    """Set or clear the mailbox's all-events webhook URL."""
    if (webhook_url is None) == (not clear_webhook_url):
        fail("give either --webhook-url URL or --clear-webhook-url", USAGE)
    with connect(server, api_key) as client:
        updated = client.update_mailbox(email_address, webhook_url)
    _show(updated, json)
    if updated.signing_key and not json:
        out.print(f"signing key (shown once): {updated.signing_key}", highlight=False)


# phone numbers


@numbers.command("list")
def numbers_list(
    limit: Limit = 100, server: Server = None, api_key: ApiKey = None, json: Json = False
) -> None:
    """List phone numbers with their incoming-call settings."""
    with connect(server, api_key) as client:
        found = list(
            itertools.islice(client.iter_phone_numbers(page_size=_page_size(limit)), limit)
        )
    if json:
        emit_json([raw(n) for n in found])
    else:
        table(
            ["number", "id", "identity", "incoming calls", "call webhook"],
            (
                [
                    n.number,
                    n.id,
                    n.agent_identity_id,
                    n.incoming_call_action,
                    n.incoming_call_webhook_url,
                ]
                for n in found
            ),
            title="phone numbers",
        )


@numbers.command("get")
def numbers_get(
    number_id: NumberId, server: Server = None, api_key: ApiKey = None, json: Json = False
) -> None:
    """Show one phone number."""
    with connect(server, api_key) as client:
        _show(client.get_phone_number(number_id), json)


@numbers.command("create")
def numbers_create(
    number: Annotated[
        str, typer.Argument(metavar="NUMBER", help="The number in E.164 form, e.g. +14155550100.")
    ],
    agent_handle: OwnerHandle = None,
    server: Server = None,
    api_key: ApiKey = None,
    json: Json = False,
) -> None:
    """Register a phone number, optionally owned by an identity."""
    with connect(server, api_key) as client:
        _show(client.create_phone_number(number, agent_handle), json)


@numbers.command("update")
def numbers_update(
    number_id: NumberId,
    incoming_call_action: Annotated[
        str | None,
        typer.Option("--incoming-call-action", help="auto_accept, auto_reject or webhook."),
    ] = None,
    incoming_call_webhook_url: Annotated[
        str | None,
        typer.Option("--incoming-call-webhook-url", help="Asked what to do with each call."),
    ] = None,
    clear_incoming_call_webhook_url: Annotated[
        bool, typer.Option("--clear-incoming-call-webhook-url", help="Forget that URL.")
    ] = False,
    server: Server = None,
    api_key: ApiKey = None,
    json: Json = False,
) -> None:
    """Change how the number's incoming calls are answered."""
    changes: dict[str, Any] = {}
    if incoming_call_action is not None:
        changes["incoming_call_action"] = incoming_call_action
    if incoming_call_webhook_url is not None and clear_incoming_call_webhook_url:
        fail("give --incoming-call-webhook-url or --clear-incoming-call-webhook-url", USAGE)
    if incoming_call_webhook_url is not None or clear_incoming_call_webhook_url:
        changes["incoming_call_webhook_url"] = incoming_call_webhook_url
    if not changes:
        fail("nothing to change: give at least one option", USAGE)
    with connect(server, api_key) as client:
        _show(client.update_phone_number(number_id, **changes), json)
