"""Reading what became of events: delivery states and the attempt log."""

from __future__ import annotations

from dataclasses import replace

from hookline.core import cursor as cursors
from hookline.core.errors import PRUNED_NOTE, NotFound, ValidationFailed
from hookline.core.models import Attempt, Delivery, Event
from hookline.services.page import Page
from hookline.services.principal import Principal
from hookline.storage.base import Storage
from hookline.storage.records import AttemptFilter

MAX_PAGE = 200


class DeliveryService:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def attempts(
        self, principal: Principal, flt: AttemptFilter, *, cursor: str | None = None
    ) -> Page[Attempt]:
        """A page of the log, newest first, after ``cursor`` (a ``next_cursor``) when given."""
        limit = min(max(flt.limit, 1), MAX_PAGE)
        flt = replace(flt, limit=limit + 1, offset=max(flt.offset, 0))
        if cursor is not None:
            if flt.offset:
                raise ValidationFailed("cursor", "give either cursor or offset, not both")
            flt = replace(flt, before=cursors.decode(cursor))
        if flt.since_ms is not None and flt.until_ms is not None and flt.until_ms <= flt.since_ms:
            raise ValidationFailed("until", "must be later than since")
        if not principal.is_admin:
            flt = replace(flt, owner_identity_id=principal.identity_id or "")
        return Page.of(await self._storage.list_attempts(principal.organization_id, flt), limit)

    async def attempt_of(
        self, principal: Principal, subscription_id: str, attempt_id: str
    ) -> Attempt:
        """One logged attempt of a subscription; the caller has checked that ``principal``
        may see the subscription (``SubscriptionService.get``)."""
        found = await self._storage.get_attempt(principal.organization_id, attempt_id)
        if found is None or found.subscription_id != subscription_id:
            raise NotFound("attempt", attempt_id)
        return found

    async def recent_events(
        self, principal: Principal, limit: int, before: tuple[int, str] | None = None
    ) -> Page[Event]:
        """The newest events this principal may see, after the cursor ``before`` (the last
        listed event's ``(created_at_ms, id)``); an agent sees its identity's only."""
        limit = min(max(limit, 1), MAX_PAGE)
        found = await self._storage.recent_events(
            principal.organization_id,
            limit + 1,
            before=before,
            agent_identity_id=None if principal.is_admin else principal.identity_id or "",
        )
        return Page.of(found, limit)

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


def next_cursor(page: Page[Attempt]) -> str | None:
    """The cursor of the page after ``page``; None when it is the last."""
    if not page.has_more or not page.items:
        return None
    last = page.items[-1]
    return cursors.encode(last.created_at_ms, last.id)
