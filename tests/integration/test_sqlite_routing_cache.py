"""SQLite only: a subscription's own write updates the cached routing candidates instead of
dropping them (PostgreSQL drops its cache on every write: other processes' notifications
would drop it anyway). That the cached candidates always match the database is the contract
test in ``test_storage_freshness.py``, on both databases."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hookline.core.errors import Conflict
from hookline.storage.cached_reads import ROUTING
from hookline.storage.sqlite import SqliteStorage

from .conftest import NOW_MS, add_subscription, make_identity, make_subscription, sqlite_file


async def _candidates(storage: SqliteStorage, org_id: str) -> set[str]:
    subs = await storage.routing_candidates(
        org_id, mailbox_id=None, phone_number_id=None, identity_id=None
    )
    return {s.id for s in subs}


async def test_sqlite_keeps_its_routing_candidates_through_a_subscription_write(
    tmp_path: Path,
) -> None:
    """SQLite's cached candidates are updated, not dropped, by a subscription's own write:
    the next publish reads nothing (an organization's 10,000 took a quarter of a second to
    read again, on the event loop). Any other configuration write still drops them."""
    async with sqlite_file(tmp_path / "routing.db", "org_routing") as (storage, org):
        cache = storage._cache
        key = (ROUTING, org.id, None, None, None)
        first = await add_subscription(storage, make_subscription(org.id))
        assert set(await _candidates(storage, org.id)) == {first.id}
        assert cache.get(key) is not None

        second = await add_subscription(storage, make_subscription(org.id, url="https://b.example"))
        kept = cache.get(key)
        assert kept is not None and set(kept) == {first.id, second.id}
        await storage.update_subscription(org.id, first.id, {"enabled": False}, NOW_MS + 1)
        kept = cache.get(key)
        # still a candidate (its deliveries are held), seen disabled
        assert kept is not None and set(kept) == {first.id, second.id}
        assert not kept[first.id].enabled
        await storage.update_subscription(
            org.id, second.id, {"url": "https://c.example"}, NOW_MS + 2
        )
        kept = cache.get(key)
        assert kept is not None and kept[second.id].url == "https://c.example"
        assert kept[second.id].updated_at_ms == NOW_MS + 2
        assert await storage.delete_subscription(org.id, second.id, NOW_MS + 3)
        assert await storage.delete_subscription(org.id, first.id, NOW_MS + 3)
        assert cache.get(key) == {}

        # a write that fails keeps nothing: it may have changed what it did not say
        with pytest.raises(Conflict):  # the id is taken
            await add_subscription(storage, replace(make_subscription(org.id), id=first.id))
        assert cache.get(key) is None
        assert set(await _candidates(storage, org.id)) == set()

        # nor does any other configuration write
        assert cache.get(key) is not None
        await storage.insert_identity(make_identity(org.id, "agent-z"))
        assert cache.get(key) is None
