"""A webhook's attempt log in the console: its attempts newest first with filters (a GET form
htmx updates in place), cursor pages, one attempt's request and answer, and replay.

Kept apart from ``webhooks.py`` (the rest of the webhook's page): the page includes the log's
template and asks this module for its context, one call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from hookline.console.render import render
from hookline.console.visit import Visit, services_of
from hookline.core import attempt_headers
from hookline.core.errors import ValidationFailed
from hookline.core.models import Attempt, Subscription
from hookline.core.timefmt import ms_from_datetime
from hookline.services.deliveries import next_cursor
from hookline.storage.records import AttemptFilter

LOG_PAGE = 25
#: the outcome filter's choices: (value, label)
OUTCOMES = (("", "Any"), ("succeeded", "Succeeded"), ("failed", "Failed"))
_FILTERS = ("outcome", "status_code", "event_type", "since", "until")


@dataclass
class AttemptLog:
    """What ``webhooks/_attempts.html`` shows."""

    values: dict[str, str]
    attempts: list[Attempt] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    #: the query string of the next (older) page, None on the last
    older: str | None = None
    #: the log has no attempt at all (not merely none matching the filters)
    filtered: bool = False


async def log_of(request: Request, visit: Visit, sub: Subscription) -> AttemptLog:
    """The page of ``sub``'s attempts the request's query asks for."""
    params = request.query_params
    values = {name: params.get(name, "").strip() for name in _FILTERS}
    log = AttemptLog(values=values, filtered=any(values.values()))
    try:
        flt = _filter(sub.id, values)
    except ValidationFailed as exc:
        log.errors[exc.field] = exc.reason
        return log
    cursor = params.get("cursor") or None
    try:
        page = await services_of(request).deliveries.attempts(visit.principal, flt, cursor=cursor)
    except ValidationFailed as exc:
        log.errors[exc.field] = exc.reason
        return log
    log.attempts = page.items
    after = next_cursor(page)
    if after is not None:
        kept = {k: v for k, v in values.items() if v}
        log.older = urlencode({**kept, "cursor": after})
    return log


def _filter(sub_id: str, values: Mapping[str, str]) -> AttemptFilter:
    status = values["status_code"]
    if status and not (status.isdigit() and 100 <= int(status) <= 599):
        raise ValidationFailed("status_code", "must be a number from 100 to 599")
    outcome = values["outcome"]
    if outcome not in ("", "succeeded", "failed"):
        raise ValidationFailed("outcome", "must be succeeded or failed")
    since, until = _time(values, "since"), _time(values, "until")
    if since is not None and until is not None and until <= since:
        raise ValidationFailed("until", "must be later than From")
    return AttemptFilter(
        subscription_id=sub_id,
        status_code=int(status) if status else None,
        success=None if not outcome else outcome == "succeeded",
        event_type=values["event_type"] or None,
        since_ms=since,
        until_ms=until,
        limit=LOG_PAGE,
    )


def _time(values: Mapping[str, str], name: str) -> int | None:
    """A time the form gave: ``datetime-local`` text, taken as UTC (the form says so)."""
    text = values[name]
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(name, "must be a date and time, e.g. 2026-01-15T10:25") from None
    return ms_from_datetime(when if when.tzinfo else when.replace(tzinfo=UTC))


async def log_fragment(request: Request, visit: Visit) -> Response:
    """The log's results alone, for htmx to swap in when the filters change or on "Older"."""
    services = services_of(request)
    sub = await services.subscriptions.get(visit.principal, request.path_params["id"])
    log = await log_of(request, visit, sub)
    return render(
        request,
        "webhooks/_attempt_rows.html",
        visit=visit,
        webhook=sub,
        log=log,
        status_code=422 if log.errors and not request.headers.get("HX-Request") else 200,
    )


async def attempt(request: Request, visit: Visit, **ctx: Any) -> Response:
    """One attempt: the request sent (headers, body) and the receiver's answer."""
    services = services_of(request)
    sub = await services.subscriptions.get(visit.principal, request.path_params["id"])
    logged = await services.deliveries.attempt_of(
        visit.principal, sub.id, request.path_params["attempt_id"]
    )
    return render(
        request,
        "webhooks/attempt.html",
        visit=visit,
        webhook=sub,
        attempt=logged,
        request_body=_pretty(logged.request_payload),
        sent=attempt_headers.parse(logged.request_headers),
        received=attempt_headers.parse(logged.response_headers),
        **ctx,
    )


def _pretty(body: str) -> str:
    """A JSON body indented to read; any other text as it is."""
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body


async def replay(request: Request, visit: Visit) -> Response:
    """Send the attempt's event again (the API's replay), then show the attempt and the new
    one's outcome."""
    services = services_of(request)
    sub = await services.subscriptions.get(visit.principal, request.path_params["id"])
    logged = await services.deliveries.attempt_of(
        visit.principal, sub.id, request.path_params["attempt_id"]
    )
    again = await services.sends.replay(visit.principal, logged.id)
    return await attempt(request, visit, replayed=again)
