"""Publishing: validate, route, and store each event with its deliveries in one transaction."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

from pydantic_core import to_json

from hookline.core import ids, routing, validation
from hookline.core.catalog import CATALOG, INCOMING_CALL, SUBSCRIPTION_DISABLED
from hookline.core.errors import EventConflict, PayloadTooLarge, ValidationFailed
from hookline.core.frozen import frozen
from hookline.core.models import ClaimedDelivery, Delivery, DeliveryState, Event, Subscription
from hookline.core.timefmt import iso_from_ms
from hookline.services.clock import Clock
from hookline.services.principal import Principal
from hookline.storage.base import Storage
from hookline.storage.records import Disabled, Lease, NewDeliveries, Published
from hookline.tracing import Tracing

MAX_BATCH = 1000
MAX_EVENT_ID_LEN = 128
MAX_DATA_BYTES = 256 * 1024
#: an occurred_at this far ahead of our clock is surely a mistake (the past is fine: backfills)
MAX_FUTURE_SKEW_MS = 24 * 3600 * 1000


@frozen
class EventInput:
    type: str
    data: Mapping[str, Any]
    id: str | None = None
    mailbox: str | None = None
    phone_number: str | None = None
    agent_handle: str | None = None
    domain: str | None = None
    occurred_at_ms: int | None = None


_OwnerKey = tuple[str | None, str | None, str | None]
_OWNER_FIELDS = ("mailbox", "phone_number", "agent_handle")


class Handoff(Protocol):
    """A worker in this process that takes fresh deliveries straight from the publish, so
    they are sent without waiting for (and paying for) a claim: the query by which a worker
    takes due deliveries from the database. ``hookline serve`` has one; an API-only process
    has none and leaves every delivery to the workers' claims."""

    def lease(
        self, wanted: Mapping[str, tuple[Subscription, int]], now_ms: int
    ) -> Lease | None: ...

    async def take(self, lease: Lease, leased: Sequence[ClaimedDelivery]) -> None: ...

    def would_claim(self, subscription_ids: Collection[str]) -> bool: ...


class PublishService:
    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        *,
        schedule: Sequence[int],
        wake: Callable[[], None],
        pulled: Callable[[], None] = lambda: None,
        tracing: Tracing | None = None,
    ) -> None:
        self._storage = storage
        self._tracing = tracing
        self._clock = clock
        self._schedule = tuple(schedule)
        self._wake = wake
        #: wakes the consumers waiting on a pull (this process's)
        self._pulled = pulled
        self._handoff: Handoff | None = None

    def hand_off_to(self, handoff: Handoff | None) -> None:
        """Give fresh deliveries to ``handoff`` (this process's worker) while it runs."""
        self._handoff = handoff

    async def publish(
        self, principal: Principal, inputs: Sequence[EventInput], *, batch: bool
    ) -> list[Published]:
        """Publish one or more events. A repeated id yields the stored event, nothing new; one
        whose type, data, owner or domain differ from the stored event's is ``EventConflict``,
        and nothing of the call is written (a batch is all or nothing)."""
        principal.require_admin()
        return await self._publish(principal.organization_id, inputs, batch=batch)

    async def announce_disabled(self, disabled: Sequence[Disabled]) -> None:
        """Emit ``subscription.disabled`` to each organization's operational subscriptions."""
        for d in disabled:
            sub = d.subscription
            data = {
                "subscription_id": sub.id,
                "url": sub.url,
                "reason": d.reason,
                "disabled_at": iso_from_ms(sub.updated_at_ms),
            }
            event = EventInput(
                id=f"evt_disabled_{sub.id}_{sub.updated_at_ms}",
                type=SUBSCRIPTION_DISABLED,
                data=data,
            )
            await self._publish(sub.organization_id, [event], batch=False)

    async def _publish(
        self, org_id: str, inputs: Sequence[EventInput], *, batch: bool
    ) -> list[Published]:
        if len(inputs) > MAX_BATCH:
            raise PayloadTooLarge(f"at most {MAX_BATCH} events per batch")
        if batch and not inputs:
            raise ValidationFailed("events", "must hold at least one event")
        traced_from_ns = time.time_ns() if self._tracing is not None else 0
        now = self._clock.now_ms()
        #: each event, and beside it the subscriptions it routes to (two lists, no pair per
        #: event: see _route)
        events: list[Event] = []
        routed: list[list[Subscription]] = []
        candidates: dict[_OwnerKey, list[Subscription]] = {}
        routes: dict[tuple[_OwnerKey, str, str | None], list[Subscription]] = {}
        seen: set[str] = set()
        #: per subscription, how many deliveries this publish makes (for the handoff)
        wanted: dict[str, tuple[Subscription, int]] = {}
        pulls = False
        for i, data in enumerate(inputs):
            where = f"events[{i}]." if batch else ""
            head = self._head(data, where)
            if data.mailbox is None and data.phone_number is None and data.agent_handle is None:
                event = self._event(org_id, data, now, where, head, None)  # most: no owner
            else:
                owner = await self._owner(org_id, data, where)
                event = self._event(org_id, data, now, where, head, owner)
            events.append(event)
            if event.id in seen:
                # the later copy of an id in one batch is a repeat: it routes to nothing new
                routed.append([])
                continue
            seen.add(event.id)
            key = (event.mailbox_id, event.phone_number_id, event.agent_identity_id)
            if key not in candidates:
                candidates[key] = await self._storage.routing_candidates(
                    org_id,
                    mailbox_id=event.mailbox_id,
                    phone_number_id=event.phone_number_id,
                    identity_id=event.agent_identity_id,
                )
            subs = _route(routes, candidates[key], key, event)
            for sub in subs:
                if sub.mode == "pull":  # for its consumer, never handed to a worker
                    pulls = pulls or sub.enabled
                    continue
                if sub.enabled:  # a disabled one's delivery is held: nothing to send now
                    _, count = wanted.get(sub.id, (sub, 0))
                    wanted[sub.id] = (sub, count + 1)
            routed.append(subs)
        lease = self._handoff.lease(wanted, now) if self._handoff and wanted else None
        # the deliveries handed over are made leased already (the storage need not remake
        # them); every delivery's id in one draw, handed out in order
        leased_until = dict.fromkeys(lease.subscription_ids, lease.until_ms) if lease else {}
        new_ids = iter(ids.new_time_uuids(now, sum(len(subs) for subs in routed)))
        items = [
            NewDeliveries(
                event=event,
                deliveries=[
                    self._delivery(next(new_ids), event, s, now, leased_until.get(s.id))
                    for s in subs
                ],
                lease=lease,
            )
            for event, subs in zip(events, routed, strict=True)
        ]
        leased: list[ClaimedDelivery] = []
        try:
            results = await self._storage.insert_events_with_deliveries(items)
            leased = [c for r in results for c in r.leased]
        except EventConflict as exc:
            # the storage's items are these inputs, in order
            field = f"events[{exc.index}].id" if batch else "id"
            raise EventConflict(
                exc.event_id, differs=exc.differs, index=exc.index, field=field
            ) from None
        finally:
            if lease is not None and self._handoff is not None:
                await self._handoff.take(lease, leased)
        if wanted and any(r.created and r.deliveries > len(r.leased) for r in results):
            # the deliveries not handed over wait for a claim: wake the worker, unless every
            # one of their subscriptions is one that claims skip for now (its attempts in
            # flight at their cap, say, behind a dead endpoint): a claim now would find
            # nothing it may take, and cost a write transaction on every such publish
            rest = [s for s in wanted if lease is None or s not in lease.subscription_ids]
            if self._handoff is None or self._handoff.would_claim(rest):
                self._wake()
        if pulls and any(r.created for r in results):
            self._pulled()  # consumers waiting on a pull subscription's deliveries
        if self._tracing is not None:
            self._tracing.published(
                org_id,
                [(r.event.id, r.deliveries if r.created else 0) for r in results],
                batch=batch,
                start_ns=traced_from_ns,
                end_ns=time.time_ns(),
            )
        return results

    def _delivery(
        self,
        delivery_id: str,
        event: Event,
        sub: Subscription,
        now: int,
        leased_until_ms: int | None,
    ) -> Delivery:
        """A new delivery: pending, or leased to this process's worker until the time given;
        held (unsent, never due) for a disabled subscription."""
        state: DeliveryState
        next_ms: int | None
        if leased_until_ms is not None:
            state = "delivering"
            next_ms = leased_until_ms
        elif not sub.enabled:
            state, next_ms = "held", None
        else:
            state, next_ms = "pending", now + (sub.retry_schedule or self._schedule)[0] * 1000
        return Delivery(
            id=delivery_id,
            organization_id=event.organization_id,
            event_id=event.id,
            subscription_id=sub.id,
            state=state,
            attempts=0,
            next_attempt_at_ms=next_ms,
            first_attempt_at_ms=None,
            last_attempt_at_ms=None,
            last_status=None,
            last_error=None,
            created_at_ms=now,
            updated_at_ms=now,
            pull=sub.mode == "pull",
        )

    @staticmethod
    def _head(data: EventInput, where: str) -> tuple[str, str]:
        """The event's id and its data as JSON, once its type, id and data are checked."""
        if data.type == INCOMING_CALL:
            raise ValidationFailed(
                where + "type",
                "phone.incoming_call is answered synchronously: "
                "POST /phone/numbers/{id}/incoming-call",
            )
        if data.type not in CATALOG:
            raise ValidationFailed(where + "type", f"{data.type!r} is not in the event catalog")
        event_id = data.id if data.id is not None else ids.new_event_id()
        if (
            not event_id
            or len(event_id) > MAX_EVENT_ID_LEN
            or not event_id.isprintable()
            or " " in event_id
        ):
            raise ValidationFailed(
                where + "id", f"1-{MAX_EVENT_ID_LEN} printable characters, no spaces"
            )
        encoded = _encode_data(data.data)
        if encoded is None:
            # Python's parser takes them, but no receiver's JSON parser need
            raise ValidationFailed(where + "data", "NaN and Infinity are not JSON numbers")
        if len(encoded) > MAX_DATA_BYTES:
            raise PayloadTooLarge(f"{where}data is larger than {MAX_DATA_BYTES} bytes")
        return event_id, encoded.decode()

    @staticmethod
    def _event(
        org_id: str,
        data: EventInput,
        now: int,
        where: str,
        head: tuple[str, str],
        owner: _OwnerKey | None,
    ) -> Event:
        """The event ``data`` describes, with what ``_head`` and ``_owner`` made of it.

        Not a coroutine: most events name no owner, and a batch makes a thousand."""
        event_id, data_json = head
        mailbox_id, phone_id, identity_id = owner or (None, None, None)
        occurred = data.occurred_at_ms if data.occurred_at_ms is not None else now
        if occurred - now > MAX_FUTURE_SKEW_MS:
            raise ValidationFailed(where + "occurred_at", "more than a day in the future")
        if occurred < 0:
            raise ValidationFailed(where + "occurred_at", "before 1970")
        return Event(
            id=event_id,
            organization_id=org_id,
            type=data.type,
            data=dict(data.data),
            data_json=data_json,
            occurred_at_ms=occurred,
            created_at_ms=now,
            mailbox_id=mailbox_id,
            phone_number_id=phone_id,
            agent_identity_id=identity_id,
            domain=validation.domain(data.domain, where + "domain")
            if data.domain is not None
            else None,
        )

    async def _owner(self, org_id: str, data: EventInput, where: str) -> _OwnerKey:
        """The mailbox, phone number and identity of an event that names an owner (only one)."""
        mailbox_id = phone_id = identity_id = None
        if len(owners := [k for k in _OWNER_FIELDS if getattr(data, k) is not None]) > 1:
            raise ValidationFailed(where + owners[1], "an event belongs to at most one owner")
        if data.mailbox is not None:
            mailbox = await self._storage.mailbox_by_address(
                org_id, validation.email(data.mailbox, where + "mailbox")
            )
            if mailbox is None:
                raise ValidationFailed(
                    where + "mailbox", f"no mailbox {data.mailbox!r}; create it first"
                )
            mailbox_id, identity_id = mailbox.id, mailbox.agent_identity_id
        elif data.phone_number is not None:
            number = validation.e164(data.phone_number, where + "phone_number")
            phone = await self._storage.phone_number_by_number(org_id, number)
            if phone is None:
                raise ValidationFailed(
                    where + "phone_number", f"no phone number {number!r}; create it first"
                )
            phone_id, identity_id = phone.id, phone.agent_identity_id
        elif data.agent_handle is not None:
            ident = await self._storage.identity_by_handle(org_id, data.agent_handle)
            if ident is None:
                raise ValidationFailed(where + "agent_handle", f"no identity {data.agent_handle!r}")
            identity_id = ident.id
        return mailbox_id, phone_id, identity_id


def _encode_data(data: Mapping[str, Any]) -> bytes | None:
    """``data`` as compact UTF-8 JSON, or None if it holds a NaN or an Infinity. pydantic's
    encoder is several times faster than ``json.dumps``
    (docs/perf/2026-12-02-publish-road-and-http-client.md) but writes those as bare words:
    only when such a word appears at all (in a string, usually) does ``json.dumps`` tell
    whether it is a number."""
    out = to_json(data)
    if (b"NaN" in out or b"Infinity" in out) and not _plain_json(data):
        return None
    return out


def _plain_json(data: Mapping[str, Any]) -> bool:
    try:
        json.dumps(data, allow_nan=False)
    except ValueError:
        return False
    return True


def _route(
    routes: dict[tuple[_OwnerKey, str, str | None], list[Subscription]],
    candidates: list[Subscription],
    key: _OwnerKey,
    event: Event,
) -> list[Subscription]:
    """``routing.route`` of ``event``, shared by the publish's events of its owner, type and
    domain (all it depends on within one organization): a batch's thousand events of one
    kind hold one list, not a thousand (docs/perf/2026-12-07-batch-publish-objects.md). The
    lists are only read."""
    found = routes.get((key, event.type, event.domain))
    if found is None:
        found = routes[(key, event.type, event.domain)] = routing.route(candidates, event)
    return found
