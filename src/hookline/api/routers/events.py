"""Publishing events and reading what became of them."""

from __future__ import annotations

from fastapi import APIRouter

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
)

router = APIRouter(prefix="/events", tags=["events"])


@router.post("", status_code=202, operation_id="publish_event")
async def publish_event(
    body: EventIn, principal: PrincipalDep, services: ServicesDep
) -> PublishedOut:
    [published] = await services.publishing.publish(principal, [body.to_input()], batch=False)
    return PublishedOut.of(published)


@router.post("/batch", status_code=202, operation_id="publish_events_batch")
async def publish_batch(
    body: EventBatchIn, principal: PrincipalDep, services: ServicesDep
) -> PublishedBatchOut:
    results = await services.publishing.publish(
        principal, [e.to_input() for e in body.events], batch=True
    )
    return PublishedBatchOut(events=[PublishedOut.of(p) for p in results])


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
        attempts=[AttemptOut.of(a) for a in attempts],
    )
