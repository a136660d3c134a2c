"""``hookline owners identities|mailboxes|phone-numbers …``: the owner registry."""

from __future__ import annotations

import itertools
from typing import Annotated, Any

import typer

from hookline.cli._client import (
    USAGE,
    ApiKey,
    ClientOptions,
    Limit,
    Server,
    Yes,
    client_options,
    confirm,
    connect,
    fail,
    out,
)
from hookline.cli._common import CLIENT_PANEL, app, with_options

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


# identities


@identities.command("list")
@with_options(client_options, into="opts")
def identities_list(limit: Limit = 100, *, opts: ClientOptions) -> None:
    """List identities."""
    with opts.connect() as client:
        found = list(itertools.islice(client.iter_identities(page_size=_page_size(limit)), limit))
    opts.show_list(
        found,
        ["agent handle", "id", "created"],
        lambda i: [i.agent_handle, i.id, i.created_at],
        title="identities",
    )


@identities.command("get")
@with_options(client_options, into="opts")
def identities_get(agent_handle: Handle, opts: ClientOptions) -> None:
    """Show one identity."""
    with opts.connect() as client:
        opts.show(client.get_identity(agent_handle))


@identities.command("create")
@with_options(client_options, into="opts")
def identities_create(agent_handle: Handle, opts: ClientOptions) -> None:
    """Register an identity."""
    with opts.connect() as client:
        opts.show(client.create_identity(agent_handle))


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
@with_options(client_options, into="opts")
def mailboxes_list(limit: Limit = 100, *, opts: ClientOptions) -> None:
    """List mailboxes with their webhook URLs."""
    with opts.connect() as client:
        found = list(itertools.islice(client.iter_mailboxes(page_size=_page_size(limit)), limit))
    opts.show_list(
        found,
        ["email address", "id", "identity", "webhook url"],
        lambda m: [m.email_address, m.id, m.agent_identity_id, m.webhook_url],
        title="mailboxes",
    )


@mailboxes.command("get")
@with_options(client_options, into="opts")
def mailboxes_get(email_address: Email, opts: ClientOptions) -> None:
    """Show one mailbox."""
    with opts.connect() as client:
        opts.show(client.get_mailbox(email_address))


@mailboxes.command("create")
@with_options(client_options, into="opts")
def mailboxes_create(
    email_address: Email, agent_handle: OwnerHandle = None, *, opts: ClientOptions
) -> None:
    """Register a mailbox, optionally owned by an identity."""
    with opts.connect() as client:
        opts.show(client.create_mailbox(email_address, agent_handle))


@mailboxes.command("update")
@with_options(client_options, into="opts")
def mailboxes_update(
    email_address: Email,
    webhook_url: Annotated[
        str | None, typer.Option("--webhook-url", help="Send all its events here.")
    ] = None,
    clear_webhook_url: Annotated[
        bool, typer.Option("--clear-webhook-url", help="Stop its all-events webhook.")
    ] = False,
    *,
    opts: ClientOptions,
) -> None:
    """Set or clear the mailbox's all-events webhook URL."""
    if (webhook_url is None) == (not clear_webhook_url):
        fail("give either --webhook-url URL or --clear-webhook-url", USAGE)
    with opts.connect() as client:
        updated = client.update_mailbox(email_address, webhook_url)
    opts.show(updated)
    if updated.signing_key and not opts.json:
        out.print(f"signing key (shown once): {updated.signing_key}", highlight=False)


# phone numbers


@numbers.command("list")
@with_options(client_options, into="opts")
def numbers_list(limit: Limit = 100, *, opts: ClientOptions) -> None:
    """List phone numbers with their incoming-call settings."""
    with opts.connect() as client:
        found = list(
            itertools.islice(client.iter_phone_numbers(page_size=_page_size(limit)), limit)
        )
    opts.show_list(
        found,
        ["number", "id", "identity", "incoming calls", "call webhook"],
        lambda n: [
            n.number,
            n.id,
            n.agent_identity_id,
            n.incoming_call_action,
            n.incoming_call_webhook_url,
        ],
        title="phone numbers",
    )


@numbers.command("get")
@with_options(client_options, into="opts")
def numbers_get(number_id: NumberId, opts: ClientOptions) -> None:
    """Show one phone number."""
    with opts.connect() as client:
        opts.show(client.get_phone_number(number_id))


@numbers.command("create")
@with_options(client_options, into="opts")
def numbers_create(
    number: Annotated[
        str, typer.Argument(metavar="NUMBER", help="The number in E.164 form, e.g. +14155550100.")
    ],
    agent_handle: OwnerHandle = None,
    *,
    opts: ClientOptions,
) -> None:
    """Register a phone number, optionally owned by an identity."""
    with opts.connect() as client:
        opts.show(client.create_phone_number(number, agent_handle))


@numbers.command("update")
@with_options(client_options, into="opts")
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
    *,
    opts: ClientOptions,
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
    with opts.connect() as client:
        opts.show(client.update_phone_number(number_id, **changes))
