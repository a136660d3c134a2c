"""``hookline listen --forward-to URL``: take a pull subscription's deliveries to a local URL.

For a receiver that cannot be reached from the server (a laptop, a service behind a
firewall): the listener pulls each delivery over the API, POSTs it, signed as the server
signed it, to the local URL, and acknowledges the local answer. The subscription is found by
name (default: this machine's host name), so a listener started again takes up what was
published while it was away, with the same secret.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any

import httpx
import typer
from rich.text import Text

from hookline.cli import _input
from hookline.cli._client import USAGE, ApiKey, Server, connect, fail, out
from hookline.cli._common import CLIENT_PANEL, app
from hookline_sdk import APIStatusError, Client, Pulled, Subscription

PULL_MAX = 10  # deliveries leased per pull
#: how long a pull waits on the server for a delivery: long enough to cost little while idle
PULL_WAIT_S = 20.0
FORWARD_TIMEOUT_S = 30.0  # the local receiver's answer, at most
BODY_KEPT_CHARS = 4096  # of the local answer, sent back for the delivery log


def _event_list(values: list[str] | None) -> list[str] | None:
    return _input.names(values) if values else None


@app.command(rich_help_panel=CLIENT_PANEL)
def listen(
    forward_to: Annotated[
        str,
        typer.Option(
            "--forward-to",
            envvar="HOOKLINE_FORWARD_TO",
            show_envvar=True,
            help="The local URL each delivery is POSTed to, e.g. http://localhost:3000/hooks.",
        ),
    ],
    events: Annotated[
        list[str] | None,
        typer.Option(
            "--events",
            "-e",
            envvar="HOOKLINE_LISTEN_EVENTS",
            show_envvar=True,
            help="Event types to take; repeat it or separate with commas (default: every "
            "type that can be subscribed to).",
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            envvar="HOOKLINE_LISTEN_PROFILE",
            show_envvar=True,
            help="Wire profile: standard, inkbox, inbox or inboxroad (default: the server's).",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            envvar="HOOKLINE_LISTEN_NAME",
            show_envvar=True,
            help="The pull subscription's name, reused across restarts (default: this "
            "machine's host name).",
        ),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header",
            "-H",
            envvar="HOOKLINE_LISTEN_HEADERS",
            show_envvar=True,
            help="A header added to each forwarded request, 'Name: value'; repeat it.",
        ),
    ] = None,
    server: Server = None,
    api_key: ApiKey = None,
) -> None:
    """Forward a pull subscription's deliveries to a local URL, signed, until Ctrl-C.

    Prints the subscription's secret (the same each time), then one line per delivery. A
    local answer other than 2xx, or none, is retried on the subscription's schedule."""
    if not forward_to.startswith(("http://", "https://")):
        fail(f"--forward-to must be an http:// or https:// URL, not {forward_to!r}", USAGE)
    try:
        extra = _input.headers(header or [])
    except ValueError as exc:
        fail(str(exc), USAGE)
    wanted_name = name or socket.gethostname()
    # Ctrl-C (and a plain kill) must stop it cleanly, also when started from a script, whose
    # background jobs begin with SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with connect(server, api_key) as client:
        types = _event_list(events) or [t.type for t in client.get_catalog() if t.subscribable]
        sub = _subscription(client, wanted_name, types, profile)
        _announce(client, sub, forward_to)
        with httpx.Client(timeout=FORWARD_TIMEOUT_S) as local:
            _forward_until_interrupted(client, local, sub.id, forward_to, extra)


def _subscription(
    client: Client, name: str, types: Sequence[str], profile: str | None
) -> Subscription:
    """The pull subscription of that name, made to take ``types``; created if there is none."""
    for sub in client.iter_subscriptions():
        if sub.mode == "pull" and sub.name == name:
            changes: dict[str, Any] = {}
            if set(sub.event_types) != set(types):
                changes["event_types"] = list(types)
            if profile is not None and sub.profile != profile:
                changes["profile"] = profile
            return client.update_subscription(sub.id, **changes) if changes else sub
    options: dict[str, Any] = {"mode": "pull", "name": name}
    if profile is not None:
        options["profile"] = profile
    return client.create_subscription(None, types, **options)


def _announce(client: Client, sub: Subscription, forward_to: str) -> None:
    try:
        secret = client.get_subscription_secret(sub.id)
    except APIStatusError as exc:
        if exc.status_code != 404:
            raise
        shown = "(signed with the owner's inkbox signing key)"
    else:
        shown = secret
    out.print(f"Forwarding [bold]{sub.name}[/] ({sub.id}) to {forward_to}", highlight=False)
    out.print(f"Profile: {sub.profile}   Events: {', '.join(sub.event_types)}", highlight=False)
    out.print(f"Secret: {shown}", highlight=False, soft_wrap=True)
    out.print("Ready. Ctrl-C to stop.", highlight=False)


def _forward_until_interrupted(
    client: Client, local: httpx.Client, sub_id: str, url: str, extra: Mapping[str, str]
) -> None:
    """Pull, forward, acknowledge, until Ctrl-C; then acknowledge the delivery forwarded
    last, if that was not done yet, and hand back those not forwarded."""
    held: list[Pulled] = []
    answered: dict[str, Any] | None = None  # held[0]'s result, forwarded but not acknowledged
    try:
        while True:
            held = list(client.pull_deliveries(sub_id, max=PULL_MAX, wait_s=PULL_WAIT_S))
            while held:
                answered = _forward(local, held[0], url, extra)
                client.ack_deliveries(sub_id, [answered])
                held.pop(0)
                answered = None
    except KeyboardInterrupt:
        # a second Ctrl-C meanwhile: the leases left run out instead
        with contextlib.suppress(KeyboardInterrupt):
            if answered is not None:
                # the attempt was made: it is logged (once; a repeat is answered 409)
                client.ack_deliveries(sub_id, [answered])
                held = held[1:]
            if held:
                client.release_deliveries(sub_id, held)
        out.print("Stopped.", highlight=False)


def _forward(
    local: httpx.Client, pulled: Pulled, url: str, extra: Mapping[str, str]
) -> dict[str, Any]:
    """POST one delivery to the local URL; its acknowledgement, and one line printed."""
    started = time.monotonic()
    result: dict[str, Any] = {"delivery_id": pulled.delivery_id, "lease": pulled.lease}
    try:
        answer = local.post(url, content=pulled.body.encode(), headers={**pulled.headers, **extra})
    except httpx.HTTPError as exc:
        result.update(status=None, error=f"{type(exc).__name__}: {exc}"[:2000])
        shown = Text("no answer", style="red")
    else:
        result.update(status=answer.status_code, body=answer.text[:BODY_KEPT_CHARS])
        style = "green" if answer.is_success else "red"
        shown = Text(str(answer.status_code), style=style)
    elapsed_ms = (time.monotonic() - started) * 1000
    line = Text.assemble(
        (datetime.now().strftime("%H:%M:%S"), "dim"),
        "  ",
        (pulled.event_type, "bold"),
        "  ",
        pulled.event_id,
        "  ",
        shown,
        f"  {elapsed_ms:.0f} ms",
    )
    out.print(line, highlight=False, soft_wrap=True)
    return result
