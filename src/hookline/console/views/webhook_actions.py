"""A webhook's page, its actions: send a test event, recover failed deliveries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookline.console import forms
from hookline.console.render import render
from hookline.console.views import webhook_health, webhooks
from hookline.console.visit import Visit, page, refuse, services_of
from hookline.core.catalog import CATALOG
from hookline.core.errors import TooManyRequests, ValidationFailed
from hookline.core.timefmt import ms_from_datetime


def routes() -> list[Route]:
    get, post = ["GET"], ["POST"]
    return [
        Route("/webhooks/{id}/example", page(example), methods=get),
        Route("/webhooks/{id}/test", page(test_send), methods=post),
        Route("/webhooks/{id}/recover", page(recover_form), methods=get),
        Route("/webhooks/{id}/recover", page(recover), methods=post),
    ]


def _htmx(request: Request) -> bool:
    return bool(request.headers.get("HX-Request"))


async def example(request: Request, visit: Visit) -> Response:
    """The catalog's example of the chosen type, as the fragment the test form swaps in."""
    sub = await services_of(request).subscriptions.get(visit.principal, request.path_params["id"])
    chosen = request.query_params.get("event_type", "")
    types = webhook_health.test_types(sub)
    chosen = chosen if chosen in types else (types[0] if types else "")
    return render(
        request,
        "webhooks/_test_example.html",
        visit=visit,
        test_type=chosen,
        test_example=webhook_health.example_of(chosen) if chosen else "",
    )


async def test_send(request: Request, visit: Visit) -> Response:
    """Send the catalog example now, as ``POST …/test`` does; the outcome shows inline."""
    form = await request.form()
    event_type = forms.text(form, "event_type")
    sub_id = request.path_params["id"]
    result: dict[str, Any] = {"test_type": event_type}
    status_code = 200
    try:
        attempt = await services_of(request).sends.test(visit.principal, sub_id, event_type)
    except ValidationFailed as exc:
        result["test_error"] = exc.reason
        status_code = 422
    except TooManyRequests as exc:
        # as many test sends to it as it may have are under way (services/send_limits.py)
        result["test_error"] = exc.message
        status_code = 429
    else:
        result["test_attempt"] = attempt
    if _htmx(request):
        # htmx swaps only 2xx answers: the refusal is said inside the fragment
        return render(request, "webhooks/_test_result.html", visit=visit, **result)
    if event_type in CATALOG:
        result["test_example"] = webhook_health.example_of(event_type)
    return await webhooks.detail(request, visit, status_code=status_code, **result)


def _since(raw: str) -> int:
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed("since", "give a date and time, as 2026-01-31T09:30") from None
    return ms_from_datetime(when if when.tzinfo else when.replace(tzinfo=UTC))


async def recover_form(request: Request, visit: Visit) -> Response:
    """Asks before re-queueing: the recover form's first step."""
    if not visit.can_write:
        return refuse(request, visit, "A viewer cannot change anything.", 403)
    services = services_of(request)
    sub = await services.subscriptions.get(visit.principal, request.path_params["id"])
    raw = request.query_params.get("since", "")
    try:
        since_ms = _since(raw)
        if since_ms > services.clock.now_ms():
            raise ValidationFailed("since", "must not be in the future")
    except ValidationFailed as exc:
        return await webhooks.detail(
            request, visit, recover_error=exc.reason, recover_since=raw, status_code=422
        )
    return render(
        request,
        "webhooks/recover.html",
        visit=visit,
        webhook=sub,
        since=webhook_health.local_input(since_ms),
    )


async def recover(request: Request, visit: Visit) -> Response:
    """Re-queue the failed deliveries since the time confirmed, as ``POST …/recover`` does."""
    form = await request.form()
    raw = forms.text(form, "since")
    try:
        count = await services_of(request).subscriptions.recover(
            visit.principal, request.path_params["id"], _since(raw)
        )
    except ValidationFailed as exc:
        return await webhooks.detail(
            request, visit, recover_error=exc.reason, recover_since=raw, status_code=422
        )
    return await webhooks.detail(request, visit, recovered=count, recover_since=raw)
