"""SQLite only: a publish that finds another process holding the write lock waits for it on the
writer thread, while the event loop goes on serving (and filling the routing cache); a publish
that writes deliveries leased still gets them back, with each subscription as stored."""

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
    behind,
    make_delivery,
    make_event,
    make_subscription,
    sqlite_file,
    until,
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


async def test_a_leased_publish_takes_subscriptions_at_their_stored_version(
    tmp_path: Path,
) -> None:
    """The routing cache holds a subscription another process has changed since: the
    deliveries written leased come back with the subscription as stored, not as cached."""
    async with sqlite_file(tmp_path / "version.db", "org_version") as (storage, org):
        sub = await add_subscription(storage, make_subscription(org.id))
        [cached] = await storage.routing_candidates(
            org.id, mailbox_id=None, phone_number_id=None, identity_id=None
        )
        assert cached.url == sub.url
        async with behind(storage) as conn:
            await conn.execute(
                sa.text("UPDATE subscriptions SET url = :url, updated_ms = :at WHERE id = :id"),
                {"url": "https://moved.example/hook", "at": NOW_MS + 5, "id": sub.id},
            )
        lease = Lease(
            token="lease-v", until_ms=NOW_MS + LEASE_MS, subscription_ids=frozenset([sub.id])
        )
        ev = make_event(org.id)
        item = NewDeliveries(event=ev, deliveries=[make_delivery(ev, sub)], lease=lease)
        [published] = await storage.insert_events_with_deliveries([item])
        [handed] = published.leased
        assert handed.subscription.url == "https://moved.example/hook"
        assert handed.subscription.updated_at_ms == NOW_MS + 5


async def test_a_write_waiting_for_another_process_lands_though_its_caller_stops(
    tmp_path: Path,
) -> None:
    """A write that waits for another process's write lock goes on if its caller stops
    waiting, and the writes queued after it still come after it."""
    path = tmp_path / "cancel.db"
    async with sqlite_file(path, "org_cancel") as (storage, _org):
        ran: list[str] = []

        def write(conn: sa.Connection) -> None:
            conn.exec_driver_sql("UPDATE organizations SET name = 'waited'")
            ran.append("waited")

        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process holds SQLite's write lock
            waiting = asyncio.create_task(storage._transact(write))
            await asyncio.sleep(0)  # queued
            await until(lambda: storage._writer._queue.qsize() == 0)  # taken: it waits
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            after = asyncio.create_task(storage._transact(lambda conn: ran.append("after")))
            other.execute("COMMIT")
            await asyncio.wait_for(after, timeout=10)
        finally:
            other.close()
        assert ran == ["waited", "after"]
