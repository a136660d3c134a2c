"""``hookline subscriptions …``: manage subscriptions on a server."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import typer

from hookline.cli import _input
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
    details,
    emit_json,
    fail,
    out,
    raw,
    spinner,
)
from hookline.cli._common import CLIENT_PANEL, app, with_options
from hookline_sdk import Client, Subscription

subscriptions = typer.Typer(
    help="Create, inspect, change, test and delete subscriptions.", no_args_is_help=True
)
app.add_typer(subscriptions, name="subscriptions", rich_help_panel=CLIENT_PANEL)

#: fields ``update --clear`` may empty
CLEARABLE = (
    "auth_token",
    "name",
    "description",
    "headers",
    "filters",
    "profile",
    "retry_schedule",
    "max_in_flight",
    "rate_limit_per_second",
)

Id = Annotated[str, typer.Argument(metavar="ID", help="The subscription's id.")]
EventTypes = Annotated[
    list[str] | None,
    typer.Option("--event-type", "-e", help="An event type; repeat it or separate with commas."),
]
Name = Annotated[str | None, typer.Option("--name", help="A name for people.")]
Description = Annotated[str | None, typer.Option("--description", help="What it is for.")]
Profile = Annotated[
    str | None,
    typer.Option("--profile", help="Wire profile: standard, inkbox, inbox or inboxroad."),
]
Header = Annotated[
    list[str] | None,
    typer.Option("--header", "-H", help="A header sent with every delivery, 'Name: value'."),
]
Domain = Annotated[
    list[str] | None,
    typer.Option("--domain", help="Only events of this sending domain; repeat it."),
]
AuthToken = Annotated[
    str | None, typer.Option("--auth-token", help="Sent as 'Authorization: Bearer <token>'.")
]
RetrySchedule = Annotated[
    str | None,
    typer.Option("--retry-schedule", help="Seconds after the first try, e.g. 0,30,120."),
]
MaxInFlight = Annotated[
    int | None, typer.Option("--max-in-flight", min=1, help="Deliveries in flight at most.")
]
RateLimit = Annotated[
    float | None, typer.Option("--rate-limit", min=0, help="Deliveries per second at most.")
]


def _settings(
    name: Name = None,
    description: Description = None,
    profile: Profile = None,
    header: Header = None,
    domain: Domain = None,
    auth_token: AuthToken = None,
    retry_schedule: RetrySchedule = None,
    max_in_flight: MaxInFlight = None,
    rate_limit: RateLimit = None,
) -> dict[str, Any]:
    """The options ``create`` and ``update`` share; the settings given, as the API names
    them."""
    body: dict[str, Any] = {}
    try:
        if header:
            body["headers"] = _input.headers(header)
        if domain:
            body["filters"] = {"domains": _input.names(domain)}
        if retry_schedule is not None:
            body["retry_schedule"] = _input.seconds_list(retry_schedule)
    except ValueError as exc:
        fail(str(exc), USAGE)
    given = {
        "name": name,
        "description": description,
        "profile": profile,
        "auth_token": auth_token,
        "max_in_flight": max_in_flight,
        "rate_limit_per_second": rate_limit,
    }
    body.update({k: v for k, v in given.items() if v is not None})
    return body


def _owner(sub: Subscription) -> str:
    for kind, value in (
        ("mailbox", sub.mailbox_id),
        ("phone", sub.phone_number_id),
        ("identity", sub.agent_identity_id),
    ):
        if value:
            return f"{kind} {value}"
    return "organization"


def _show(sub: Subscription, **extra: Any) -> None:
    fields = {k: v for k, v in raw(sub).items() if k not in ("secret", "signing_key")}
    details({**fields, **extra})


def _print_secret(value: str, opts: ClientOptions) -> None:
    if opts.json:
        emit_json({"secret": value})
    else:
        print(value)


@subscriptions.command("list")
@with_options(client_options, into="opts")
def list_(
    mailbox_id: Annotated[str | None, typer.Option(help="Owned by this mailbox.")] = None,
    phone_number_id: Annotated[str | None, typer.Option(help="Owned by this number.")] = None,
    agent_identity_id: Annotated[str | None, typer.Option(help="Owned by this identity.")] = None,
    url: Annotated[str | None, typer.Option(help="Delivering to this URL.")] = None,
    event_type: Annotated[str | None, typer.Option(help="Wanting this event type.")] = None,
    limit: Limit = 100,
    *,
    opts: ClientOptions,
) -> None:
    """List subscriptions, with the API's filters."""
    filters = {
        "mailbox_id": mailbox_id,
        "phone_number_id": phone_number_id,
        "agent_identity_id": agent_identity_id,
        "url": url,
        "event_type": event_type,
    }
    with opts.connect() as client:
        found = list(
            itertools.islice(
                client.iter_subscriptions(
                    page_size=min(limit, 100),
                    **{k: v for k, v in filters.items() if v is not None},
                ),
                limit,
            )
        )
    opts.show_list(
        found,
        ["id", "name", "url", "event types", "owner", "profile", "enabled"],
        lambda s: [s.id, s.name, s.url, s.event_types, _owner(s), s.profile, s.enabled],
        title="subscriptions",
    )


@subscriptions.command()
@with_options(client_options, into="opts")
def get(id: Id, opts: ClientOptions) -> None:
    """Show one subscription."""
    with opts.connect() as client:
        sub = client.get_subscription(id)
    if opts.json:
        emit_json(raw(sub))
    else:
        _show(sub)


@subscriptions.command()
@with_options(client_options, into="opts")
@with_options(_settings, into="settings")
def create(
    url: Annotated[str, typer.Option("--url", help="Where deliveries are POSTed.")],
    event_type: EventTypes = None,
    mailbox_id: Annotated[str | None, typer.Option(help="Owner: a mailbox's id.")] = None,
    mailbox: Annotated[str | None, typer.Option(help="Owner: a mailbox, by email address.")] = None,
    phone_number_id: Annotated[str | None, typer.Option(help="Owner: a phone number's id.")] = None,
    agent_identity_id: Annotated[str | None, typer.Option(help="Owner: an identity's id.")] = None,
    agent_handle: Annotated[
        str | None, typer.Option(help="Owner: an identity, by agent handle.")
    ] = None,
    *,
    settings: dict[str, Any],
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it disabled.")] = False,
    opts: ClientOptions,
) -> None:
    """Create a subscription; its secret is printed this once (it can be read again)."""
    types = _input.names(event_type or [])
    if not types:
        fail("give at least one --event-type", USAGE)
    if disabled:
        settings["enabled"] = False
    with opts.connect() as client:
        settings.update(
            _owner_ids(
                client, mailbox_id, mailbox, phone_number_id, agent_identity_id, agent_handle
            )
        )
        created = client.create_subscription(url, types, **settings)
    if opts.json:
        emit_json(raw(created))
        return
    _show(created)
    if created.secret:
        out.print(f"\nsecret (also readable later): {created.secret}", highlight=False)
    if created.signing_key:
        out.print(f"owner's signing key (shown once): {created.signing_key}", highlight=False)


def _owner_ids(
    client: Client,
    mailbox_id: str | None,
    mailbox: str | None,
    phone_number_id: str | None,
    agent_identity_id: str | None,
    agent_handle: str | None,
) -> dict[str, str]:
    """The owner as the API names it; an email address or handle is looked up first."""
    given = [
        v for v in (mailbox_id, mailbox, phone_number_id, agent_identity_id, agent_handle) if v
    ]
    if len(given) > 1:
        fail("give at most one owner", USAGE)
    if mailbox:
        return {"mailbox_id": client.get_mailbox(mailbox).id}
    if agent_handle:
        return {"agent_identity_id": client.get_identity(agent_handle).id}
    owner = {
        "mailbox_id": mailbox_id,
        "phone_number_id": phone_number_id,
        "agent_identity_id": agent_identity_id,
    }
    return {k: v for k, v in owner.items() if v}


@subscriptions.command()
@with_options(client_options, into="opts")
@with_options(_settings, into="changes")
def update(
    id: Id,
    url: Annotated[str | None, typer.Option("--url", help="A new URL.")] = None,
    event_type: EventTypes = None,
    *,
    changes: dict[str, Any],
    enabled: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Turn delivery on or off.")
    ] = None,
    held: Annotated[
        Literal["send", "drop"] | None,
        typer.Option(
            "--held",
            help="With --enable: send the deliveries held while it was disabled, or drop "
            "them (cancelled, kept in the log). Without it they stay held.",
        ),
    ] = None,
    clear: Annotated[
        list[str] | None,
        typer.Option("--clear", help=f"Empty a field: {', '.join(CLEARABLE)}; repeat it."),
    ] = None,
    opts: ClientOptions,
) -> None:
    """Change the given fields of a subscription; the others stay as they are."""
    if url is not None:
        changes["url"] = url
    if event_type:
        changes["event_types"] = _input.names(event_type)
    if enabled is not None:
        changes["enabled"] = enabled
    if held is not None:
        changes["held"] = held
    for field in clear or []:
        if field not in CLEARABLE:
            fail(f"--clear {field}: expected one of {', '.join(CLEARABLE)}", USAGE)
        if field in changes:
            fail(f"--clear {field} and a new value for it at once", USAGE)
        changes[field] = None
    if not changes:
        fail("nothing to change: give at least one option", USAGE)
    with opts.connect() as client:
        sub = client.update_subscription(id, **changes)
    if opts.json:
        emit_json(raw(sub))
    else:
        _show(sub)


@subscriptions.command()
def delete(id: Id, yes: Yes = False, server: Server = None, api_key: ApiKey = None) -> None:
    """Delete a subscription: its pending deliveries are cancelled at once."""
    confirm(f"Delete subscription {id}? Pending deliveries are cancelled.", yes)
    with connect(server, api_key) as client:
        client.delete_subscription(id)
    print(f"deleted subscription {id}")


@subscriptions.command("test")
@with_options(client_options, into="opts")
def send_test(
    id: Id,
    event_type: Annotated[
        str | None,
        typer.Option("--event-type", "-e", help="Default: the subscription's first type."),
    ] = None,
    *,
    opts: ClientOptions,
) -> None:
    """Send the catalog's example event to the subscription now, and show the answer."""
    with opts.connect() as client:
        chosen = event_type or client.get_subscription(id).event_types[0]
        attempt = client.test_subscription(id, chosen)
    if opts.json:
        emit_json(raw(attempt))
        return
    outcome = "succeeded" if attempt.success else "failed"
    status = attempt.response_status if attempt.response_status is not None else "no answer"
    print(f"test {chosen} {outcome}: {status} from {attempt.url} in {attempt.duration_ms} ms")
    if attempt.error_detail:
        print(f"  {attempt.error_detail}")
    if not attempt.success:
        raise typer.Exit(1)


@subscriptions.command()
@with_options(client_options, into="opts")
def secret(id: Id, opts: ClientOptions) -> None:
    """Print the subscription's signing secret."""
    with opts.connect() as client:
        value = client.get_subscription_secret(id)
    _print_secret(value, opts)


@subscriptions.command()
@with_options(client_options, into="opts")
def rotate(
    id: Id,
    grace_period: Annotated[
        int | None,
        typer.Option("--grace-period", min=0, help="Seconds the old secret keeps signing too."),
    ] = None,
    *,
    opts: ClientOptions,
) -> None:
    """Rotate the subscription's secret and print the new one."""
    with opts.connect() as client:
        value = client.rotate_subscription_secret(id, grace_period)
    _print_secret(value, opts)


@subscriptions.command()
@with_options(client_options, into="opts")
def recover(
    id: Id,
    since: Annotated[
        str, typer.Option("--since", help="ISO 8601 time, or a duration back: 90m, 24h, 7d.")
    ],
    opts: ClientOptions,
) -> None:
    """Queue the subscription's failed deliveries since a time for delivery again."""
    try:
        when = _input.since(since, datetime.now(UTC))
    except ValueError as exc:
        fail(str(exc), USAGE)
    with opts.connect() as client, spinner(f"recovering failed deliveries since {when}"):
        count = client.recover_subscription(id, when)
    if opts.json:
        emit_json({"requeued": count, "since": when})
    else:
        print(f"requeued {count} failed deliveries since {when}")
