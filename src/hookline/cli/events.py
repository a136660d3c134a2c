"""``hookline events get|publish`` and ``hookline trigger``: publishing and looking up events."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, cast

import typer

from hookline.cli import _input
from hookline.cli._client import (
    USAGE,
    ApiKey,
    Json,
    Server,
    connect,
    describe,
    details,
    emit_json,
    fail,
    out,
    progress_bar,
    raw,
    table,
)
from hookline.cli._common import CLIENT_PANEL, app
from hookline.core.catalog import CATALOG
from hookline_sdk import MAX_BATCH_EVENTS, APIStatusError, Client, NewEvent, Published

events = typer.Typer(help="Publish events and see what became of them.", no_args_is_help=True)
app.add_typer(events, name="events", rich_help_panel=CLIENT_PANEL)

Data = Annotated[
    str | None,
    typer.Option("--data", help="The event's data, a JSON object."),
]
Mailbox = Annotated[
    str | None, typer.Option("--mailbox", help="Owner: the mailbox's email address.")
]
PhoneNumber = Annotated[
    str | None, typer.Option("--phone-number", help="Owner: the number, in E.164 form.")
]
AgentHandle = Annotated[
    str | None, typer.Option("--agent-handle", help="Owner: the identity's agent handle.")
]
Domain = Annotated[str | None, typer.Option("--domain", help="The sending domain.")]


def _owner(**given: str | None) -> dict[str, Any]:
    return {k: v for k, v in given.items() if v is not None}


def _data(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        return _input.json_object(text, "--data")
    except ValueError as exc:
        fail(str(exc), USAGE)


@app.command(rich_help_panel=CLIENT_PANEL)
def trigger(
    type: Annotated[str, typer.Argument(metavar="TYPE", help="An event type of the catalog.")],
    data: Annotated[
        str | None,
        typer.Option("--data", help="A JSON object whose fields replace the example's."),
    ] = None,
    mailbox: Mailbox = None,
    phone_number: PhoneNumber = None,
    agent_handle: AgentHandle = None,
    domain: Domain = None,
    server: Server = None,
    api_key: ApiKey = None,
    json: Json = False,
) -> None:
    """Publish the catalog's example event of a type (to try a receiver)."""
    overrides = _data(data)
    with connect(server, api_key) as client:
        example = _example(client, type)
        published = client.publish_event(
            type,
            {**example, **overrides},
            **_owner(
                mailbox=mailbox, phone_number=phone_number, agent_handle=agent_handle, domain=domain
            ),
        )
    if json:
        emit_json(raw(published))
    else:
        print(f"published {published.id} ({published.type}): {_deliveries(published.deliveries)}")


def _example(client: Client, type: str) -> dict[str, Any]:
    """The example data of ``type``: the built-in catalog's, else the server's (operators
    may add types)."""
    if type in CATALOG:
        return dict(CATALOG[type].example)
    for entry in client.get_catalog():
        if entry.type == type:
            return dict(entry.example)
    return fail(f"{type!r} is not in the event catalog (GET /api/v1/webhooks/catalog)", USAGE)


def _deliveries(n: int) -> str:
    return f"{n} delivery" if n == 1 else f"{n} deliveries"


@events.command()
def get(
    id: Annotated[str, typer.Argument(metavar="EVENT_ID", help="The event's id (evt_…).")],
    server: Server = None,
    api_key: ApiKey = None,
    json: Json = False,
) -> None:
    """Show an event, its deliveries and their attempts."""
    with connect(server, api_key) as client:
        found = client.get_event_deliveries(id)
    if json:
        emit_json(raw(found))
        return
    details(raw(found.event), title="event")
    table(
        ["delivery", "subscription", "state", "attempts", "last status", "next attempt"],
        (
            [d.id, d.webhook_subscription_id, d.state, d.attempts, d.last_status, d.next_attempt_at]
            for d in found.deliveries
        ),
        title="deliveries",
    )
    table(
        ["attempt", "at", "result", "status", "url"],
        (
            [a.id, a.created_at, "ok" if a.success else "failed", a.response_status, a.url]
            for a in found.attempts
        ),
        title="attempts",
    )


@events.command()
def publish(
    type: Annotated[
        str | None,
        typer.Argument(
            metavar="[TYPE]", help="The event type (not with --file).", show_default=False
        ),
    ] = None,
    data: Data = None,
    id: Annotated[
        str | None, typer.Option("--id", help="The event's id: publishing it again is harmless.")
    ] = None,
    mailbox: Mailbox = None,
    phone_number: PhoneNumber = None,
    agent_handle: AgentHandle = None,
    domain: Domain = None,
    occurred_at: Annotated[
        str | None, typer.Option("--occurred-at", help="When it happened (ISO 8601).")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            help="Publish every event of a JSON-lines file, one event object per line.",
        ),
    ] = None,
    server: Server = None,
    api_key: ApiKey = None,
    json: Json = False,
) -> None:
    """Publish one event, or many from a JSON-lines file (in batches, with a progress bar)."""
    if file is not None:
        if type is not None or data is not None or id is not None:
            fail("give either TYPE (with --data, --id) or --file, not both", USAGE)
        _publish_file(file, server, api_key, json)
        return
    if type is None:
        fail("give an event TYPE, or --file with events", USAGE)
    options = _owner(
        id=id,
        mailbox=mailbox,
        phone_number=phone_number,
        agent_handle=agent_handle,
        domain=domain,
        occurred_at=occurred_at,
    )
    body = _data(data)
    with connect(server, api_key) as client:
        published = client.publish_event(type, body, **options)
    if json:
        emit_json(raw(published))
    else:
        again = " (already published: nothing new)" if published.duplicate else ""
        print(
            f"published {published.id} ({published.type}): {_deliveries(published.deliveries)}"
            f"{again}"
        )


def _publish_file(path: Path, server: str | None, api_key: str | None, json: bool) -> None:
    # read it all first: a bad line stops the command before anything is published
    try:
        batch = [cast(NewEvent, e) for e in _input.json_lines(path)]
    except ValueError as exc:
        fail(str(exc), USAGE)
    results: list[Published] = []
    with connect(server, api_key) as client, progress_bar() as bar:
        task = bar.add_task(f"publishing {path.name}", total=len(batch))
        for start in range(0, len(batch), MAX_BATCH_EVENTS):
            chunk = batch[start : start + MAX_BATCH_EVENTS]
            try:
                # the SDK splits a chunk further when its body is too large for one request
                results.extend(client.publish_events_batch(chunk))
            except APIStatusError as exc:
                fail(
                    f"{describe(exc)} (in the batch from event {start + 1} of {len(batch)}; "
                    f"the {len(results)} events before it were published)"
                )
            bar.advance(task, len(chunk))
    deliveries = sum(p.deliveries for p in results)
    duplicates = sum(1 for p in results if p.duplicate)
    if json:
        emit_json(
            {
                "events": len(results),
                "deliveries": deliveries,
                "duplicates": duplicates,
                "ids": [p.id for p in results],
            }
        )
    else:
        out.print(
            f"published {len(results)} events from {path.name}: {_deliveries(deliveries)}"
            + (f", {duplicates} already published" if duplicates else ""),
            highlight=False,
            markup=False,
        )
