"""Events: look one up by id, the recent ones (newest first), and an event's deliveries."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from hookline.console.render import redirect, render
from hookline.console.visit import Visit, services_of

PAGE_SIZE = 50
#: longer than any event id the API accepts: a longer cursor is nobody's
_MAX_CURSOR_LEN = 200


def _cursor(raw: str) -> tuple[int, str] | None:
    """``<created_at_ms>.<id>`` of the last event listed, or None (from the newest)."""
    at, sep, event_id = raw[:_MAX_CURSOR_LEN].partition(".")
    if not sep or not at.isdigit() or not event_id:
        return None
    return min(int(at), 2**62), event_id


async def listing(request: Request, visit: Visit) -> Response:
    wanted = request.query_params.get("id", "").strip()
    if wanted:
        return redirect(f"/events/{quote(wanted, safe='')}")
    page = await services_of(request).deliveries.recent_events(
        visit.principal, PAGE_SIZE, _cursor(request.query_params.get("before", ""))
    )
    last = page.items[-1] if page.items else None
    return render(
        request,
        "events/list.html",
        visit=visit,
        events=page.items,
        next_cursor=f"{last.created_at_ms}.{last.id}" if last and page.has_more else None,
    )


async def detail(request: Request, visit: Visit) -> Response:
    event, deliveries, _ = await services_of(request).deliveries.of_event(
        visit.principal, request.path_params["id"]
    )
    return render(request, "events/detail.html", visit=visit, event=event, deliveries=deliveries)
