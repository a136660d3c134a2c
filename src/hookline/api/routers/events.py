"""Publishing events and reading what became of them."""

from __future__ import annotations

from fastapi import APIRouter, Response

from hookline.api.deps import PrincipalDep, ServicesDep
from hookline.api.schemas.events import (
    AttemptOut,
    DeliveryOut,
    EventBatchIn,
    EventDeliveriesOut,
    EventIn,
    EventOut,
    PublishedBatchOut,
    PublishedOut,
    published_json,
)

router = APIRouter(prefix="/events", tags=["events"])


@router.post("", status_code=202, operation_id="publish_event", response_model=PublishedOut)
async def publish_event(body: EventIn, principal: PrincipalDep, services: ServicesDep) -> Response:
    published = await services.publishing.publish(principal, [body.to_input()], batch=False)
    return _published(published_json(published, batch=False))


@router.post(
    "/batch", status_code=202, operation_id="publish_events_batch", response_model=PublishedBatchOut
)
async def publish_batch(
    body: EventBatchIn, principal: PrincipalDep, services: ServicesDep
) -> Response:
    results = await services.publishing.publish(
        principal, [e.to_input() for e in body.events], batch=True
    )
    return _published(published_json(results, batch=True))


def _published(body: bytes) -> Response:
    return Response(body, status_code=202, media_type="application/json")


@router.get("/{event_id}", operation_id="get_event")
async def get_event(event_id: str, principal: PrincipalDep, services: ServicesDep) -> EventOut:
    return EventOut.of(await services.deliveries.event(principal, event_id))


@router.get("/{event_id}/deliveries", operation_id="get_event_deliveries")
async def get_event_deliveries(
    event_id: str, principal: PrincipalDep, services: ServicesDep
) -> EventDeliveriesOut:
    event, deliveries, attempts = await services.deliveries.of_event(principal, event_id)
    return EventDeliveriesOut(
        event=EventOut.of(event),
        deliveries=[DeliveryOut.of(d) for d in deliveries],
        attempts=[AttemptOut.of(a) for a in attempts.items],
        has_more=attempts.has_more,
    )
