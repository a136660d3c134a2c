"""``AsyncClient``: the Hookline API over an asyncio httpx client.

The same as ``Client`` (``client.py``), method for method, with ``await``; keep them in step
(a test checks that both cover every operation).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar, Unpack

import httpx

from hookline_sdk import _base
from hookline_sdk import models as m
from hookline_sdk import operations as ops
from hookline_sdk.errors import APIConnectionError
from hookline_sdk.inputs import (
    DeliveryFilters,
    DeliveryQuery,
    EventOptions,
    NewEvent,
    Paging,
    PhoneNumberChanges,
    SubscriptionChanges,
    SubscriptionFilters,
    SubscriptionOptions,
    SubscriptionQuery,
)

T = TypeVar("T")


class AsyncClient:
    """A Hookline server's API under ``/api/v1``.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8000`` (default ``HOOKLINE_SERVER``).
        api_key: an admin or agent key (default ``HOOKLINE_API_KEY``).
        timeout_s: per request.
        max_retries: how often a GET, PUT or DELETE that got no answer is sent again.
        backoff_s: the first pause before such a retry; it doubles each time.
        max_body_bytes: the server's request body limit, which batches stay within.
        http_client: an httpx client to use instead of the SDK's own (its base URL and
            headers are then yours to set).
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout_s: float = _base.DEFAULT_TIMEOUT_S,
        max_retries: int = _base.DEFAULT_MAX_RETRIES,
        backoff_s: float = _base.DEFAULT_BACKOFF_S,
        max_body_bytes: int = ops.DEFAULT_MAX_BODY_BYTES,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        server, headers = _base.settings(base_url, api_key)
        self._http = http_client or httpx.AsyncClient(
            base_url=server, headers=headers, timeout=timeout_s, verify=_base.tls_context()
        )
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_body_bytes = max_body_bytes

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def call(self, call: ops.Call[T]) -> T:
        """Carry out one operation: send, retry an idempotent one that got no answer, read."""
        retries = _base.retries_for(call, self.max_retries)
        for retry in range(retries + 1):
            try:
                response = await self._http.request(**_base.request_of(call))
            except httpx.TransportError as exc:
                if retry >= retries:
                    raise APIConnectionError(f"{call.method} {call.path}: {exc!r}") from exc
                await asyncio.sleep(_base.backoff_s(retry, self.backoff_s))
                continue
            return _base.read(call, response)
        raise AssertionError("unreachable")  # pragma: no cover

    # events

    async def publish_event(
        self, type: str, data: Mapping[str, Any] | None = None, **options: Unpack[EventOptions]
    ) -> m.Published:
        """Publish one event (``id`` makes a repeat idempotent)."""
        event: dict[str, Any] = {"type": type, "data": dict(data or {}), **options}
        return await self.call(ops.publish_event(ops.event_body(event)))

    async def publish_events_batch(self, events: Iterable[NewEvent]) -> list[m.Published]:
        """Publish many events, in as many requests as the server's limits ask (at most
        ``MAX_BATCH_EVENTS`` events and ``max_body_bytes`` each). If one request fails,
        the events of the requests before it are published; publishing them again with
        their ``id`` is harmless."""
        bodies = (ops.event_body(e) for e in events)
        out: list[m.Published] = []
        for chunk in ops.chunk_events(
            bodies,
            max_events=ops.MAX_BATCH_EVENTS,
            max_bytes=self.max_body_bytes,
            size=lambda b: len(_base.encode(b)),
        ):
            published = await self.call(ops.publish_events_batch(chunk))
            out.extend(published)
        return out

    async def get_event(self, event_id: str) -> m.Event:
        return await self.call(ops.get_event(event_id))

    async def get_event_deliveries(self, event_id: str) -> m.EventDeliveries:
        return await self.call(ops.get_event_deliveries(event_id))

    # subscriptions

    async def create_subscription(
        self, url: str | None, event_types: Sequence[str], **options: Unpack[SubscriptionOptions]
    ) -> m.CreatedSubscription:
        """A new subscription; ``url`` None with ``mode="pull"`` for a pull subscription."""
        body: dict[str, Any] = {"event_types": list(event_types), **options}
        if url is not None:
            body["url"] = url
        return await self.call(ops.create_subscription(body))

    async def list_subscriptions(
        self, **query: Unpack[SubscriptionQuery]
    ) -> m.Page[m.Subscription]:
        return await self.call(ops.list_subscriptions(dict(query)))

    def iter_subscriptions(
        self, *, page_size: int = _base.DEFAULT_PAGE_SIZE, **filters: Unpack[SubscriptionFilters]
    ) -> AsyncIterator[m.Subscription]:
        """Every subscription that matches, page after page."""
        return self._pages(ops.list_subscriptions, dict(filters), page_size)

    async def get_subscription(self, subscription_id: str) -> m.Subscription:
        return await self.call(ops.get_subscription(subscription_id))

    async def update_subscription(
        self, subscription_id: str, **changes: Unpack[SubscriptionChanges]
    ) -> m.Subscription:
        """Change the given fields only; ``None`` clears a field."""
        return await self.call(ops.update_subscription(subscription_id, changes))

    async def delete_subscription(self, subscription_id: str) -> None:
        await self.call(ops.delete_subscription(subscription_id))

    async def test_subscription(self, subscription_id: str, event_type: str) -> m.Attempt:
        """Deliver the catalog's example of ``event_type`` now; returns the attempt."""
        return await self.call(ops.test_subscription(subscription_id, event_type))

    async def get_subscription_secret(self, subscription_id: str) -> str:
        return await self.call(ops.get_subscription_secret(subscription_id))

    async def rotate_subscription_secret(
        self, subscription_id: str, grace_period_s: int | None = None
    ) -> str:
        """A new secret; during the grace period the old one keeps signing too."""
        return await self.call(ops.rotate_subscription_secret(subscription_id, grace_period_s))

    async def recover_subscription(self, subscription_id: str, since: str | datetime) -> int:
        """Re-queue the subscription's failed deliveries since ``since``; returns how many."""
        return await self.call(ops.recover_subscription(subscription_id, since))

    async def replay_subscription(
        self,
        subscription_id: str,
        since: str | datetime,
        status: str,
        *,
        until: str | datetime | None = None,
        event_types: Sequence[str] | None = None,
    ) -> m.Task:
        """Start a bulk replay in the background: the subscription's deliveries in
        ``status`` (``failed``, ``held``, ``succeeded``) created from ``since`` to ``until``
        (now), of ``event_types`` (all). Follow the task with ``get_task``."""
        return await self.call(
            ops.replay_subscription(subscription_id, since, status, until, event_types)
        )

    # background tasks

    async def list_tasks(
        self,
        *,
        subscription_id: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> m.Page[m.Task]:
        """Tasks this key may see, newest first."""
        return await self.call(
            ops.list_tasks({"subscription_id": subscription_id, "limit": limit, "offset": offset})
        )

    async def get_task(self, task_id: str) -> m.Task:
        return await self.call(ops.get_task(task_id))

    # pull subscriptions

    async def pull_deliveries(
        self, subscription_id: str, max: int = 10, wait_s: float = 0
    ) -> tuple[m.Pulled, ...]:
        """Lease up to ``max`` due deliveries of a pull subscription, waiting up to
        ``wait_s`` seconds for one; acknowledge each with ``ack_deliveries``."""
        return await self.call(ops.pull_deliveries(subscription_id, max, wait_s))

    async def ack_deliveries(
        self, subscription_id: str, results: Iterable[Mapping[str, Any]]
    ) -> tuple[m.AckResult, ...]:
        """Record outcomes: each ``{"delivery_id", "lease", "status", "body"?, "error"?}``
        (``status`` None when there was no answer). A result with a stale lease is not
        recorded (its ``status`` is 409)."""
        return await self.call(ops.ack_deliveries(subscription_id, results))

    async def release_deliveries(
        self, subscription_id: str, leases: Iterable[m.Pulled | Mapping[str, Any]]
    ) -> None:
        """Hand pulled deliveries back unsent: due again at once, no attempt counted."""
        await self.call(ops.release_deliveries(subscription_id, leases))

    # the delivery log

    async def list_deliveries(self, **query: Unpack[DeliveryQuery]) -> m.Page[m.Attempt]:
        """Logged attempts, newest first."""
        return await self.call(ops.list_deliveries(dict(query)))

    def iter_deliveries(
        self, *, page_size: int = _base.DEFAULT_PAGE_SIZE, **filters: Unpack[DeliveryFilters]
    ) -> AsyncIterator[m.Attempt]:
        return self._pages(ops.list_deliveries, dict(filters), page_size)

    async def replay_delivery(self, attempt_id: str) -> m.Attempt:
        """Send a logged attempt's event again (a new attempt marked ``is_replay``)."""
        return await self.call(ops.replay_delivery(attempt_id))

    # owners

    async def create_identity(self, agent_handle: str) -> m.Identity:
        return await self.call(ops.create_identity(agent_handle))

    async def list_identities(self, **query: Unpack[Paging]) -> m.Page[m.Identity]:
        return await self.call(ops.list_identities(dict(query)))

    def iter_identities(
        self, *, page_size: int = _base.DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[m.Identity]:
        return self._pages(ops.list_identities, {}, page_size)

    async def get_identity(self, agent_handle: str) -> m.Identity:
        return await self.call(ops.get_identity(agent_handle))

    async def delete_identity(self, agent_handle: str) -> None:
        await self.call(ops.delete_identity(agent_handle))

    async def create_mailbox(
        self, email_address: str, agent_handle: str | None = None
    ) -> m.Mailbox:
        return await self.call(ops.create_mailbox(email_address, agent_handle))

    async def list_mailboxes(self, **query: Unpack[Paging]) -> m.Page[m.Mailbox]:
        return await self.call(ops.list_mailboxes(dict(query)))

    def iter_mailboxes(
        self, *, page_size: int = _base.DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[m.Mailbox]:
        return self._pages(ops.list_mailboxes, {}, page_size)

    async def get_mailbox(self, email_address: str) -> m.Mailbox:
        return await self.call(ops.get_mailbox(email_address))

    async def update_mailbox(self, email_address: str, webhook_url: str | None) -> m.Mailbox:
        """Set (or, with ``None``, clear) the mailbox's all-events webhook."""
        return await self.call(ops.update_mailbox(email_address, webhook_url))

    async def create_phone_number(
        self, number: str, agent_handle: str | None = None
    ) -> m.PhoneNumber:
        return await self.call(ops.create_phone_number(number, agent_handle))

    async def list_phone_numbers(self, **query: Unpack[Paging]) -> m.Page[m.PhoneNumber]:
        return await self.call(ops.list_phone_numbers(dict(query)))

    def iter_phone_numbers(
        self, *, page_size: int = _base.DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[m.PhoneNumber]:
        return self._pages(ops.list_phone_numbers, {}, page_size)

    async def get_phone_number(self, number_id: str) -> m.PhoneNumber:
        return await self.call(ops.get_phone_number(number_id))

    async def update_phone_number(
        self, number_id: str, **changes: Unpack[PhoneNumberChanges]
    ) -> m.PhoneNumber:
        return await self.call(ops.update_phone_number(number_id, changes))

    async def incoming_call(self, number_id: str, call: Mapping[str, Any]) -> dict[str, Any]:
        """Ask the number's webhook what to do with an incoming call (synchronous)."""
        return await self.call(ops.incoming_call(number_id, call))

    # keys

    async def create_api_key(
        self, scope: str, *, agent_handle: str | None = None, name: str | None = None
    ) -> m.CreatedApiKey:
        return await self.call(ops.create_api_key(scope, agent_handle, name))

    async def list_api_keys(self) -> tuple[m.ApiKey, ...]:
        return await self.call(ops.list_api_keys())

    async def revoke_api_key(self, key_id: str) -> None:
        await self.call(ops.revoke_api_key(key_id))

    async def rotate_identity_signing_key(self, agent_handle: str) -> m.SigningKey:
        return await self.call(ops.rotate_identity_signing_key(agent_handle))

    async def get_identity_signing_key_status(self, agent_handle: str) -> m.SigningKeyStatus:
        return await self.call(ops.get_identity_signing_key_status(agent_handle))

    async def rotate_organization_signing_key(self) -> m.SigningKey:
        return await self.call(ops.rotate_organization_signing_key())

    async def get_organization_signing_key_status(self) -> m.SigningKeyStatus:
        return await self.call(ops.get_organization_signing_key_status())

    async def create_portal_link(
        self,
        *,
        agent_handle: str | None = None,
        mailbox_id: str | None = None,
        phone_number_id: str | None = None,
        ttl_s: int = 3600,
    ) -> m.PortalLink:
        """A one-time console URL for exactly one owner (admin key); see ``docs/api.md``."""
        return await self.call(
            ops.create_portal_link(ttl_s, agent_handle, mailbox_id, phone_number_id)
        )

    async def get_catalog(self) -> tuple[m.EventType, ...]:
        return await self.call(ops.get_catalog())

    # paging

    async def _pages(
        self,
        make: Callable[[dict[str, Any]], ops.Call[m.Page[T]]],
        filters: dict[str, Any],
        page_size: int,
    ) -> AsyncIterator[T]:
        params: dict[str, Any] | None = {**filters, "limit": page_size}
        while params is not None:
            page = await self.call(make(params))
            for item in page.items:
                yield item
            params = ops.next_page(params, page, page_size)
