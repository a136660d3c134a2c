"""``hookline subscriptions replay``: a bulk replay, run by the server as a background task."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Literal

import typer

from hookline.cli import _input
from hookline.cli._client import (
    FAILED,
    USAGE,
    ApiKey,
    Json,
    Server,
    connect,
    details,
    emit_json,
    fail,
    raw,
    spinner,
)
from hookline.cli.subscriptions import EventTypes, Id, subscriptions
from hookline_sdk import Task

#: how often ``--wait`` asks how far the task is
WAIT_POLL_S = 0.5


@subscriptions.command()
def replay(
    id: Id,
    since: Annotated[
        str, typer.Option("--since", help="ISO 8601 time, or a duration back: 90m, 24h, 7d.")
    ],
    until: Annotated[
        str | None,
        typer.Option("--until", help="ISO 8601 time, or a duration back (default: now)."),
    ] = None,
    status: Annotated[
        Literal["failed", "held", "succeeded"],
        typer.Option("--status", help="Which deliveries: failed, held or succeeded."),
    ] = "failed",
    event_type: EventTypes = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the task to finish, showing its progress.")
    ] = False,
    server: Server = None,
    api_key: ApiKey = None,
    json: Json = False,
) -> None:
    """Send the subscription's deliveries in one state again, in the background: each keeps
    its event id. Prints the task (``--wait``: once it has finished)."""
    now = datetime.now(UTC)
    try:
        start = _input.since(since, now)
        end = None if until is None else _input.since(until, now)
    except ValueError as exc:
        fail(str(exc), USAGE)
    types = _input.names(event_type) if event_type else None
    with connect(server, api_key) as client:
        task = client.replay_subscription(id, start, status, until=end, event_types=types)
        if wait:
            with spinner(f"replaying {status} deliveries (task {task.id})"):
                while not task.finished:
                    time.sleep(WAIT_POLL_S)
                    task = client.get_task(task.id)
    if json:
        emit_json(raw(task))
    else:
        _show(task)
    if task.state == "failed":
        raise typer.Exit(FAILED)


def _show(task: Task) -> None:
    details(
        {
            "task": task.id,
            "state": task.state,
            "subscription": task.subscription_id,
            "status": task.params.get("status"),
            "since": task.params.get("since"),
            "until": task.params.get("until"),
            "event types": task.params.get("event_types") or "all",
            "matched": task.progress.get("total"),
            "requeued": task.progress.get("requeued"),
            "skipped": task.progress.get("skipped"),
            "error": task.error,
        }
    )
