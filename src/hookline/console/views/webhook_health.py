"""What the webhook pages show besides the settings: each webhook's health (the list's last
status and sparkline, the webhook page's chart), the test send's choices, the recover and
replay forms' defaults and the latest replay, and the sending domains the add form offers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from hookline.console.charts import bars
from hookline.console.visit import Visit, services_of
from hookline.core.catalog import CATALOG, NOT_SUBSCRIBABLE
from hookline.core.models import Subscription
from hookline.core.tasks import REPLAY_STATUSES, Task
from hookline.services.health import HOUR_MS, HOURS, Health

#: the chart on a webhook's page and the list's sparkline (SVG user units)
CHART_SIZE = (480, 120)
SPARK_SIZE = (72, 18)
#: how far back the recover form looks by default
RECOVER_DEFAULT_MS = 24 * HOUR_MS


async def of_list(request: Request, visit: Visit, subs: Sequence[Subscription]) -> dict[str, Any]:
    """Per webhook of the page: its health and sparkline, read together for the page."""
    found = await services_of(request).health.of(visit.principal, subs)
    w, h = SPARK_SIZE
    return {
        sid: {"health": health, "spark": bars(health.hours, width=w, height=h, gap=0.5)}
        for sid, health in found.items()
    }


async def of_detail(request: Request, visit: Visit, sub: Subscription) -> dict[str, Any]:
    """The webhook page's health section, test send, recover and replay forms."""
    services = services_of(request)
    health = (await services.health.of(visit.principal, [sub])).get(sub.id) or Health(
        hours=(), last=None, failing_since_ms=None
    )
    w, h = CHART_SIZE
    types = test_types(sub)
    since = services.clock.now_ms() - RECOVER_DEFAULT_MS
    return {
        "health": health,
        "chart": bars(health.hours, width=w, height=h),
        "chart_hours": HOURS,
        "test_types": types,
        "test_type": types[0] if types else None,
        "test_example": example_of(types[0]) if types else "",
        "recover_since": local_input(since),
        "replay_values": {"status": REPLAY_STATUSES[0], "since": local_input(since)},
        "replay_task": await latest_task(request, visit, sub),
    }


async def latest_task(request: Request, visit: Visit, sub: Subscription) -> Task | None:
    """The webhook's newest replay task (what its page shows the progress of)."""
    found = await services_of(request).tasks.list(visit.principal, sub.id, 1, 0)
    return found.items[0] if found.items else None


def test_types(sub: Subscription) -> list[str]:
    """The event types a test send may use: those the webhook takes."""
    return [t for t in sub.event_types if t in CATALOG and t not in NOT_SUBSCRIBABLE]


def example_of(event_type: str) -> str:
    return json.dumps(CATALOG[event_type].example, indent=2, ensure_ascii=False)


def local_input(ms: int) -> str:
    """A ``datetime-local`` input's value (UTC, to the minute)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M")


async def offered_domains(request: Request, visit: Visit) -> list[str]:
    return await services_of(request).health.sending_domains(visit.principal)
