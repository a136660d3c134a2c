"""Reading what became of events: delivery states and the attempt log."""

from __future__ import annotations

from dataclasses import replace

from hookline.core.errors import PRUNED_NOTE, NotFound
from hookline.core.models import Attempt, Delivery, Event
from hookline.services.page import Page
from hookline.services.principal import Principal
from hookline.storage.base import AttemptFilter, Storage

MAX_PAGE = 200


class DeliveryService:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def attempts(self, principal: Principal, flt: AttemptFilter) -> Page[Attempt]:
        limit = min(max(flt.limit, 1), MAX_PAGE)
        flt = replace(flt, limit=limit + 1, offset=max(flt.offset, 0))
        if not principal.is_admin:
            flt = replace(flt, owner_identity_id=principal.identity_id or "")
        return Page.of(await self._storage.list_attempts(principal.organization_id, flt), limit)

    async def event(self, principal: Principal, event_id: str) -> Event:
        event = await self._storage.get_event(principal.organization_id, event_id)
        if event is None or not (
            principal.is_admin or event.agent_identity_id == principal.identity_id
        ):
            raise NotFound("event", event_id, note=PRUNED_NOTE)
        return event

    async def of_event(
        self, principal: Principal, event_id: str
    ) -> tuple[Event, list[Delivery], Page[Attempt]]:
        """The event, all its deliveries, and a page of its attempts (the latest first)."""
        event = await self.event(principal, event_id)
        # an agent key sees only its own subscriptions' deliveries of the event
        owner = None if principal.is_admin else principal.identity_id or ""
        deliveries = await self._storage.deliveries_of_event(
            principal.organization_id, event_id, owner
        )
        attempts = await self._storage.list_attempts(
            principal.organization_id,
            AttemptFilter(event_id=event_id, owner_identity_id=owner, limit=MAX_PAGE + 1),
        )
        return event, deliveries, Page.of(attempts, MAX_PAGE)
