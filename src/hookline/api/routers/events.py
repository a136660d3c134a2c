"""Publishing events and reading what became of them."""

from __future__ import annotations

from fastapi import APIRouter, Response

from hookline.api.deps import PrincipalDep, ServicesDep
from hookline.api.openapi import errors
from hookline.api.routers import API_PREFIX
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

router = APIRouter(prefix=API_PREFIX + "/events", tags=["events"])


@router.post(
    "",
    status_code=202,
    operation_id="publish_event",
    response_model=PublishedOut,
    responses=errors(401, 403, 409, 413, 422),
)
async def publish_event(body: EventIn, principal: PrincipalDep, services: ServicesDep) -> Response:
    """Publish one event (admin key). It is routed to every subscription that wants it and
    answered with how many deliveries it made. `data` is at most 256 KiB of JSON, the whole
    body at most the server's bound (1 MiB by default). Publishing an `id` again is
    idempotent: the stored event is answered with `duplicate: true` and nothing new is made."""
    published = await services.publishing.publish(principal, [body.to_input()], batch=False)
    return _published(published_json(published, batch=False))


@router.post(
    "/batch",
    status_code=202,
    operation_id="publish_events_batch",
    response_model=PublishedBatchOut,
    responses=errors(401, 403, 409, 413, 422),
)
async def publish_batch(
    body: EventBatchIn, principal: PrincipalDep, services: ServicesDep
) -> Response:
    """Publish 1 to 1,000 events in one request and one transaction (admin key). Each event
    follows the rules of `POST /events`; the answer lists one result per event, in order.
    More than 1,000 events is 413, none is 422."""
    results = await services.publishing.publish(
        principal, [e.to_input() for e in body.events], batch=True
    )
    return _published(published_json(results, batch=True))


def _published(body: bytes) -> Response:
    return Response(body, status_code=202, media_type="application/json")


@router.get("/{event_id}", operation_id="get_event", responses=errors(401, 404))
async def get_event(event_id: str, principal: PrincipalDep, services: ServicesDep) -> EventOut:
    """An event as it was published."""
    return EventOut.of(await services.deliveries.event(principal, event_id))


@router.get(
    "/{event_id}/deliveries", operation_id="get_event_deliveries", responses=errors(401, 404)
)
async def get_event_deliveries(
    event_id: str, principal: PrincipalDep, services: ServicesDep
) -> EventDeliveriesOut:
    """What became of an event: its deliveries (one per subscription it was routed to, with
    their state) and every attempt made so far. An agent key sees only its identity's."""
    event, deliveries, attempts = await services.deliveries.of_event(principal, event_id)
    return EventDeliveriesOut(
        event=EventOut.of(event),
        deliveries=[DeliveryOut.of(d) for d in deliveries],
        attempts=[AttemptOut.of(a) for a in attempts.items],
        has_more=attempts.has_more,
    )
