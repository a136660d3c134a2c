"""The publish path's configuration reads, served from memory (``read_cache.py``).

Every publish authenticates its key, looks up its owner and the subscriptions that may want
it. Both databases serve these reads from a cache that configuration writes drop:

- SQLite: one process, so every write goes through it and the cache is exact.
- PostgreSQL: other processes write too. Each of their configuration writes sends a
  notification on commit (``CONFIG_CHANNEL``) and every listening process drops its cache when
  it arrives, within milliseconds. A process caches only while it listens: until its
  ``LISTEN`` connection is up, and whenever it is lost, it reads from the database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import TypeVar

from hookline.core.models import ApiKey, Identity, Mailbox, PhoneNumber, Subscription
from hookline.storage.read_cache import ReadCache
from hookline.storage.records import OutcomeRecord, Recorded
from hookline.storage.sql import SqlStorage

V = TypeVar("V")

#: PostgreSQL's channel for "configuration changed": its payload is never read
CONFIG_CHANNEL = "hookline_config"
#: the first part of a routing candidates' cache key, ``(ROUTING, org_id, mailbox_id,
#: phone_number_id, identity_id)``; its value: the subscriptions by id, handed out as copies
ROUTING = "routing"


class CachedReads(SqlStorage):
    """The cached reads; a subclass sets ``_cache`` and drops it around its writes."""

    _cache: ReadCache

    async def _cached(self, key: Hashable, load: Callable[[], Awaitable[V | None]]) -> V | None:
        hit: V | None = self._cache.get(key)
        if hit is not None:
            return hit
        token = self._cache.token()
        found = await load()
        if found is not None:
            self._cache.put(key, found, token)
        return found

    async def api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        return await self._cached(
            ("key", key_hash), lambda: super(CachedReads, self).api_key_by_hash(key_hash)
        )

    async def identity_by_handle(self, org_id: str, handle: str) -> Identity | None:
        return await self._cached(
            ("identity", org_id, handle),
            lambda: super(CachedReads, self).identity_by_handle(org_id, handle),
        )

    async def mailbox_by_address(self, org_id: str, address: str) -> Mailbox | None:
        return await self._cached(
            ("mailbox", org_id, address),
            lambda: super(CachedReads, self).mailbox_by_address(org_id, address),
        )

    async def phone_number_by_number(self, org_id: str, number: str) -> PhoneNumber | None:
        return await self._cached(
            ("phone", org_id, number),
            lambda: super(CachedReads, self).phone_number_by_number(org_id, number),
        )

    async def routing_candidates(
        self,
        org_id: str,
        *,
        mailbox_id: str | None,
        phone_number_id: str | None,
        identity_id: str | None,
    ) -> list[Subscription]:
        async def load() -> dict[str, Subscription]:
            found = await super(CachedReads, self).routing_candidates(
                org_id,
                mailbox_id=mailbox_id,
                phone_number_id=phone_number_id,
                identity_id=identity_id,
            )
            return {sub.id: sub for sub in found}

        key = (ROUTING, org_id, mailbox_id, phone_number_id, identity_id)
        found = await self._cached(key, load)
        return list(found.values()) if found else []

    async def record_outcomes(
        self, outcomes: Sequence[OutcomeRecord], disable_after_ms: int | None = None
    ) -> Recorded:
        recorded = await super().record_outcomes(outcomes, disable_after_ms)
        if recorded.disabled:
            self._cache.invalidate()  # their deliveries are held from now on
        return recorded
