"""The publish path's configuration reads, served from memory (``read_cache.py``).

Every publish authenticates its key, looks up its owner and the subscriptions that may want
it. Both databases serve these reads from a cache that configuration writes (``_configure``)
drop:

- SQLite: one process, so every write goes through it and the cache is exact. A
  subscription's own write keeps the cached routing candidates and brings them up to date
  with the row as it committed (reading an organization's 10,000 candidates again stalls
  the publish that needs them); a publish handing deliveries over may then take those
  subscriptions from memory (publish_tx.py checks their stored version).
- PostgreSQL: other processes write too. Each of their configuration writes sends a
  notification on commit (``CONFIG_CHANNEL``) and every listening process drops its cache when
  it arrives, within milliseconds. A process caches only while it listens: it starts
  listening at its first such read (postgres.py), and until its ``LISTEN`` connection is up,
  and whenever it is lost, it reads from the database.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Collection, Hashable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import sqlalchemy as sa

from hookline.core.models import ApiKey, Identity, Mailbox, PhoneNumber, Subscription
from hookline.storage import rows
from hookline.storage import tables as t
from hookline.storage.accounts_sql import AccountsSql
from hookline.storage.deliveries_sql import DeliveriesSql
from hookline.storage.owners_sql import OwnersSql
from hookline.storage.read_cache import ReadCache
from hookline.storage.records import OutcomeRecord, Recorded
from hookline.storage.sql_base import Row
from hookline.storage.subscriptions_sql import SubscriptionsSql

T = TypeVar("T")
V = TypeVar("V")

log = logging.getLogger("hookline.storage")

#: PostgreSQL's channel for "configuration changed": its payload is never read
CONFIG_CHANNEL = "hookline_config"
#: the first part of a routing candidates' cache key, ``(ROUTING, org_id, mailbox_id,
#: phone_number_id, identity_id)``; its value: the subscriptions by id, handed out as copies
ROUTING = "routing"

_s = t.subscriptions
_SUBSCRIPTION_ROW = sa.select(_s).where(_s.c.id == sa.bindparam("id"))


def _is_routing(key: Hashable) -> bool:
    return isinstance(key, tuple) and key[0] == ROUTING


def _subscriptions_by_id(entries: Iterable[tuple[Hashable, Any]]) -> dict[str, Subscription]:
    """The subscriptions among cached routing candidates, by id."""
    return {sub.id: sub for key, subs in entries if _is_routing(key) for sub in subs.values()}


def _is_candidate(row: Row, key: tuple[Any, ...]) -> bool:
    """Whether ``routing_candidates`` with the arguments of cache key ``key`` finds this
    subscription row: the same conditions, for one row in memory."""
    _, org_id, mailbox_id, phone_number_id, identity_id = key
    if row["organization_id"] != org_id or row["deleted_ms"] is not None:
        return False
    return (
        (
            row["mailbox_id"] is None
            and row["phone_number_id"] is None
            and row["agent_identity_id"] is None
        )
        or (mailbox_id is not None and row["mailbox_id"] == mailbox_id)
        or (phone_number_id is not None and row["phone_number_id"] == phone_number_id)
        or (identity_id is not None and row["agent_identity_id"] == identity_id)
    )


def _routing_after(
    sub_id: str,
    row: Row | None,
    sub: Subscription | None,
    key: Hashable,
    subs: dict[str, Subscription],
) -> dict[str, Subscription]:
    """Cached routing candidates (``key``) once subscription ``sub_id`` is stored as ``row``,
    which is ``sub`` (both None: not at all)."""
    assert isinstance(key, tuple)
    subs.pop(sub_id, None)
    if row is not None and sub is not None and _is_candidate(row, key):
        subs[sub_id] = sub
    return subs


class CachedReads(AccountsSql, OwnersSql, SubscriptionsSql, DeliveriesSql):
    """The cached reads, and the configuration writes that keep them exact."""

    _cache: ReadCache
    #: whether every configuration write goes through this process (SQLite), so that the
    #: cache may follow a subscription's write and vouch for what it holds
    _cache_is_exact: ClassVar[bool] = False

    def _hear_changes(self) -> None:
        """Start hearing other processes' configuration changes, if there are any to hear
        (PostgreSQL); the cache serves nothing until then."""

    async def _cached(self, key: Hashable, load: Callable[[], Awaitable[V | None]]) -> V | None:
        hit: V | None = self._cache.get(key)
        if hit is not None:
            return hit
        self._hear_changes()
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

    def _known_subscriptions(self, sub_ids: Collection[str]) -> Mapping[str, Subscription]:
        """Of ``sub_ids``, those the cached routing candidates hold, when the cache is exact
        but for other processes' writes: no configuration write is under way (the cache
        serves nothing then), and the writes queued after this one run after it."""
        if not sub_ids or not self._cache_is_exact:
            return {}
        index = self._cache.derived(_subscriptions_by_id)
        if not index:
            return {}
        return {sid: sub for sid in sub_ids if (sub := index.get(sid)) is not None}

    async def _configure(
        self, fn: Callable[[sa.Connection], T], *, subscription: str | None = None
    ) -> T:
        follow = subscription if self._cache_is_exact else None
        keep = _is_routing if follow is not None else None

        def write(conn: sa.Connection) -> tuple[T, Row | None]:
            self._announce_config(conn)
            result = fn(conn)
            if follow is None:
                return result, None
            return result, conn.execute(_SUBSCRIPTION_ROW, {"id": follow}).mappings().first()

        # nothing is served from the cache until the write has ended, even if its caller
        # stops waiting: the write goes on, and its end (_configured) brings the cache level
        self._cache.start_writing(keep)
        done = asyncio.ensure_future(self._transact(write))
        done.add_done_callback(functools.partial(self._configured, follow, keep))
        result, _ = await asyncio.shield(done)
        return result

    def _configured(
        self,
        follow: str | None,
        keep: Callable[[Hashable], bool] | None,
        done: asyncio.Future[tuple[Any, Row | None]],
    ) -> None:
        """A configuration write ended: the routing candidates it kept take in the
        subscription's row as it committed (the writes end in the order they committed),
        or, should anything fail, the cache starts over."""
        ok = not done.cancelled() and done.exception() is None
        if ok and follow is not None and len(self._cache):
            try:
                _, row = done.result()
                sub = rows.subscription(row) if row is not None else None
                self._cache.update(functools.partial(_routing_after, follow, row, sub))
            except Exception:
                log.exception("the routing cache could not follow subscription %s", follow)
                ok = False
        self._cache.stop_writing(keep if ok else None)
