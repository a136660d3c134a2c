"""SQLite only: a publish that finds another process holding the write lock waits for it on a
thread; a publish that hands deliveries to its worker still gets them, read from the database,
while the event loop goes on serving (and filling the routing cache) meanwhile."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from hookline.storage.records import Lease, NewDeliveries, SubscriptionSecrets

from .conftest import (
    LEASE_MS,
    NOW_MS,
    add_subscription,
    make_delivery,
    make_event,
    make_subscription,
    sqlite_file,
)


async def test_a_handed_over_publish_waits_out_another_process_on_a_thread(
    tmp_path: Path,
) -> None:
    path = tmp_path / "busy.db"
    async with sqlite_file(path, "org_busy") as (storage, org):
        subs = [await add_subscription(storage, make_subscription(org.id)) for _ in range(3)]
        for i, sub in enumerate(subs):
            secrets = SubscriptionSecrets(secret_enc=f"enc:s{i}")
            assert await storage.update_subscription(org.id, sub.id, {}, NOW_MS, secrets)
        routed = await storage.routing_candidates(
            org.id, mailbox_id=None, phone_number_id=None, identity_id=None
        )
        assert len(routed) == 3
        lease = Lease(
            token="lease-busy",
            until_ms=NOW_MS + LEASE_MS,
            subscription_ids=frozenset(s.id for s in subs),
        )
        ev = make_event(org.id)
        item = NewDeliveries(event=ev, deliveries=[make_delivery(ev, s) for s in subs], lease=lease)

        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process holds SQLite's write lock
            publish = asyncio.create_task(storage.insert_events_with_deliveries([item]))
            await asyncio.sleep(0.2)
            assert not publish.done()
            # the loop serves on meanwhile: routing reads fill the cache
            for k in range(20):
                await storage.routing_candidates(
                    org.id, mailbox_id=f"mbx_{k}", phone_number_id=None, identity_id=None
                )
            other.execute("COMMIT")
            [published] = await asyncio.wait_for(publish, timeout=10)
        finally:
            other.close()

        handed = {c.subscription.id: c.secret_ciphertexts for c in published.leased}
        assert handed == {s.id: (f"enc:s{i}",) for i, s in enumerate(subs)}


async def test_the_routing_cache_is_not_read_off_the_event_loop(tmp_path: Path) -> None:
    """The cache is the event loop's: from another thread (the busy road above) the handoff
    does not take subscriptions from it, and reads them instead."""
    async with sqlite_file(tmp_path / "thread.db", "org_thread") as (storage, org):
        sub = await add_subscription(storage, make_subscription(org.id))
        await storage.routing_candidates(
            org.id, mailbox_id=None, phone_number_id=None, identity_id=None
        )
        assert storage._cached_subscriptions([sub.id]) == {sub.id: sub}
        assert await asyncio.to_thread(storage._cached_subscriptions, [sub.id]) == {}


async def test_a_cancelled_wait_for_another_process_keeps_the_connection_until_it_ends(
    tmp_path: Path,
) -> None:
    """An inline transaction that found another process's write lock waits on the thread;
    if its caller stops waiting, the write lock stays held until that transaction ends, so
    no other transaction gets the connection meanwhile."""
    path = tmp_path / "cancel.db"
    async with sqlite_file(path, "org_cancel") as (storage, _org):
        ran: list[str] = []

        def write(conn: sa.Connection) -> str:
            conn.exec_driver_sql("UPDATE organizations SET name = 'waited'")
            ran.append("waited")
            return "waited"

        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process holds SQLite's write lock
            waiting = asyncio.create_task(storage._transact(write))
            await asyncio.sleep(0.2)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            assert storage._write_lock.locked  # still: the transaction waits on the thread
            after = asyncio.create_task(storage._transact(lambda conn: ran.append("after")))
            await asyncio.sleep(0.1)
            assert not after.done()
            other.execute("COMMIT")
            await asyncio.wait_for(after, timeout=10)
        finally:
            other.close()
        assert ran == ["waited", "after"]  # the cancelled caller's write still landed first
        assert not storage._write_lock.locked
