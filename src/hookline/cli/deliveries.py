"""``hookline deliveries …``: the delivery log (every logged attempt), replay, and tail."""

from __future__ import annotations

import itertools
import json as jsonlib
import signal
import sys
import threading
from collections import deque
from typing import Annotated, Any

import typer

from hookline.cli._client import (
    ApiKey,
    Json,
    Limit,
    Server,
    connect,
    details,
    emit_json,
    fail,
    out,
    raw,
    spinner,
    table,
)
from hookline.cli._common import CLIENT_PANEL, app
from hookline_sdk import Attempt, Client

deliveries = typer.Typer(
    help="The delivery log: list, show, replay and follow attempts.", no_args_is_help=True
)
app.add_typer(deliveries, name="deliveries", rich_help_panel=CLIENT_PANEL)

#: how many attempt ids ``tail`` remembers to print each once; more than a few pages
TAIL_MEMORY = 10_000
#: attempts asked for per request while tailing, within the API's limit
TAIL_PAGE = 100

SubscriptionId = Annotated[
    str | None, typer.Option("--subscription-id", help="Attempts of this subscription.")
]
PhoneNumberId = Annotated[
    str | None, typer.Option("--phone-number-id", help="Attempts for this phone number.")
]
EventType = Annotated[str | None, typer.Option("--event-type", help="Of this event type.")]
EventId = Annotated[str | None, typer.Option("--event-id", help="Of this event.")]
Success = Annotated[
    bool | None,
    typer.Option("--success/--failure", help="Only attempts that succeeded, or that failed."),
]
MailboxId = Annotated[
    str | None, typer.Option("--mailbox-id", help="Attempts for this mailbox's subscriptions.")
]
AgentIdentityId = Annotated[
    str | None,
    typer.Option("--agent-identity-id", help="Attempts for this identity's subscriptions."),
]
StatusCode = Annotated[
    int | None, typer.Option("--status-code", min=100, max=599, help="Answered with this status.")
]
Since = Annotated[
    str | None,
    typer.Option("--since", help="Made at or after this time (ISO 8601 with a time zone)."),
]
Until = Annotated[
    str | None, typer.Option("--until", help="Made before this time (ISO 8601 with a time zone).")
]


def _filters(**given: Any) -> dict[str, Any]:
    return {k: v for k, v in given.items() if v is not None}


def _status(a: Attempt) -> str:
    return str(a.response_status) if a.response_status is not None else "no answer"


def _row(a: Attempt) -> list[Any]:
    result = ("ok" if a.success else "failed") + (", replay" if a.is_replay else "")
    return [a.created_at, a.id, a.event_type, a.event_id, result, _status(a), a.duration_ms, a.url]


_COLUMNS = ["at", "attempt", "event type", "event", "result", "status", "ms", "url"]


@deliveries.command("list")
def list_(
    subscription_id: SubscriptionId = None,
    phone_number_id: PhoneNumberId = None,
    event_type: EventType = None,
    event_id: EventId = None,
    success: Success = None,
    mailbox_id: MailboxId = None,
    agent_identity_id: AgentIdentityId = None,
    status_code: StatusCode = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 50,
    server: Server = None,
    api_key: ApiKey = None,
    json: Json = False,
) -> None:
    """List logged attempts, newest first (the server checks the filters' values)."""
    filters = _filters(
        subscription_id=subscription_id,
        phone_number_id=phone_number_id,
        event_type=event_type,
        event_id=event_id,
        success=success,
        mailbox_id=mailbox_id,
        agent_identity_id=agent_identity_id,
        status_code=status_code,
        since=since,
        until=until,
    )
    with connect(server, api_key) as client:
        found = list(
            itertools.islice(client.iter_deliveries(page_size=min(limit, 200), **filters), limit)
        )
    if json:
        emit_json([raw(a) for a in found])
    else:
        table(_COLUMNS, (_row(a) for a in found), title="attempts")


@deliveries.command()
def get(
    id: Annotated[
        str, typer.Argument(metavar="ATTEMPT_ID", help="The attempt's id (from the log).")
    ],
    subscription_id: SubscriptionId = None,
    server: Server = None,
    api_key: ApiKey = None,
    json: Json = False,
) -> None:
    """Show one logged attempt: what was sent and what came back.

    The API has no single-attempt lookup, so the log is searched, newest first;
    ``--subscription-id`` narrows the search."""
    with connect(server, api_key) as client, spinner("searching the delivery log"):
        found = next(
            (
                a
                for a in client.iter_deliveries(
                    page_size=200, **_filters(subscription_id=subscription_id)
                )
                if a.id == id
            ),
            None,
        )
    if found is None:
        fail(f"404 attempt {id!r} not found in the delivery log")
    if json:
        emit_json(raw(found))
    else:
        details(raw(found))


@deliveries.command()
def replay(
    id: Annotated[
        str, typer.Argument(metavar="ATTEMPT_ID", help="The logged attempt to send again.")
    ],
    server: Server = None,
    api_key: ApiKey = None,
    json: Json = False,
) -> None:
    """Send a logged attempt's event again (same event id, a new attempt marked replay)."""
    with connect(server, api_key) as client:
        attempt = client.replay_delivery(id)
    if json:
        emit_json(raw(attempt))
        return
    outcome = "succeeded" if attempt.success else "failed"
    print(f"replayed {attempt.event_id} as attempt {attempt.id}: {outcome} ({_status(attempt)})")


@deliveries.command()
def tail(
    subscription_id: SubscriptionId = None,
    phone_number_id: PhoneNumberId = None,
    event_type: EventType = None,
    event_id: EventId = None,
    success: Success = None,
    interval: Annotated[
        float,
        typer.Option(
            "--interval",
            envvar="HOOKLINE_TAIL_INTERVAL_S",
            show_envvar=True,
            min=0.05,
            help="Seconds between polls.",
        ),
    ] = 1.0,
    lines: Annotated[
        int, typer.Option("--lines", "-n", min=0, help="Recent attempts to show first.")
    ] = 10,
    server: Server = None,
    api_key: ApiKey = None,
    json: Json = False,
) -> None:
    """Follow the delivery log: print new attempts as they are made, until Ctrl-C.

    With ``--json``, one JSON object per line (JSON lines)."""
    filters = _filters(
        subscription_id=subscription_id,
        phone_number_id=phone_number_id,
        event_type=event_type,
        event_id=event_id,
        success=success,
    )
    seen: deque[str] = deque(maxlen=TAIL_MEMORY)
    known: set[str] = set()
    # Ctrl-C only asks to stop: a KeyboardInterrupt raised inside the HTTP client (holding its
    # connection pool's lock, say) could leave the client unable to close, and tail hanging
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        with connect(server, api_key) as client:
            # the first page is the past: show its newest few, remember all of it
            recent = list(
                itertools.islice(client.iter_deliveries(page_size=TAIL_PAGE, **filters), TAIL_PAGE)
            )
            for a in reversed(recent):
                _remember(a.id, seen, known)
            for a in reversed(recent[:lines]):
                _print_line(a, json)
            while not stop.wait(interval):
                for a in reversed(_newer(client, filters, known)):
                    _remember(a.id, seen, known)
                    _print_line(a, json)
    finally:
        signal.signal(signal.SIGINT, previous)


def _newer(client: Client, filters: dict[str, Any], known: set[str]) -> list[Attempt]:
    """Attempts not printed yet, newest first: pages are read until a known one (one page
    only while none is known, so an empty log costs one request)."""
    fresh: list[Attempt] = []
    for a in itertools.islice(client.iter_deliveries(page_size=TAIL_PAGE, **filters), TAIL_MEMORY):
        if a.id in known:
            break
        fresh.append(a)
        if not known and len(fresh) >= TAIL_PAGE:
            break
    return fresh


def _remember(attempt_id: str, seen: deque[str], known: set[str]) -> None:
    if attempt_id in known:
        return
    if len(seen) == seen.maxlen:
        known.discard(seen[0])
    seen.append(attempt_id)
    known.add(attempt_id)


def _print_line(a: Attempt, json: bool) -> None:
    if json:
        print(jsonlib.dumps(raw(a), ensure_ascii=False, default=str), flush=True)
        return
    mark = "ok" if a.success else "FAILED"
    replay = " (replay)" if a.is_replay else ""
    error = f"  {a.error_detail}" if a.error_detail else ""
    out.print(
        f"{a.created_at}  {mark:<6} {_status(a):<9} {a.event_type} {a.event_id} → {a.url}"
        f"{replay}{error}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    sys.stdout.flush()
