"""SQLite only: one writer thread. The writes that wait while it writes go together into its
next transaction; one of them that fails rolls back alone and the others land; reads never
wait for it; and a caller that stops waiting does not stop its write."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from hookline.storage.records import NewDeliveries
from hookline.storage.sqlite import SqliteStorage

from .conftest import (
    LEASE_MS,
    NOW_MS,
    add_subscription,
    make_api_key,
    make_delivery,
    make_event,
    make_identity,
    make_subscription,
    publish,
    sqlite_file,
    until,
)


class Blocker:
    """A write that holds the writer thread, inside its transaction, until ``release``; it
    records every statement the write connection runs from then on."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.started = threading.Event()
        self.gate = threading.Event()

    def __call__(self, conn: sa.Connection) -> str:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.set_trace_callback(self.statements.append)
        conn.exec_driver_sql("UPDATE organizations SET name = 'blocked'")
        self.started.set()
        self.gate.wait(10)
        return "blocker"

    async def holding(self, storage: SqliteStorage) -> asyncio.Task[str]:
        """Start it; return once the writer is inside it."""
        task = asyncio.create_task(storage._transact(self))
        await until(self.started.is_set)
        return task

    def transactions(self) -> list[list[str]]:
        """The statements run after the blocker's, one list per transaction."""
        found: list[list[str]] = []
        for sql in self.statements:
            if sql == "BEGIN IMMEDIATE":
                found.append([])
            elif found:
                found[-1].append(sql)
        return found


async def _queued(storage: SqliteStorage, count: int) -> None:
    """Wait until ``count`` pieces of work wait for the writer."""
    await until(lambda: storage._writer._queue.qsize() >= count)


async def test_writes_that_wait_share_one_transaction(tmp_path: Path) -> None:
    async with sqlite_file(tmp_path / "together.db", "org_together") as (storage, org):
        subs = [await add_subscription(storage, make_subscription(org.id)) for _ in range(3)]
        await publish(storage, subs)

        blocker = Blocker()
        first = await blocker.holding(storage)
        # a claim, publishes and a configuration write, all at once
        claim = asyncio.create_task(storage.claim_due(NOW_MS, 10, LEASE_MS))
        events = [make_event(org.id) for _ in range(5)]
        publishes = [
            asyncio.create_task(
                storage.insert_events_with_deliveries(
                    [NewDeliveries(event=e, deliveries=[make_delivery(e, subs[0])])]
                )
            )
            for e in events
        ]
        identity = asyncio.create_task(storage.insert_identity(make_identity(org.id, "agent-t")))
        await _queued(storage, 1 + len(events) + 1)
        blocker.gate.set()

        assert await first == "blocker"
        assert {c.subscription.id for c in await claim} == {s.id for s in subs}
        for task in publishes:
            assert [p.created for p in await task] == [True]
        await identity
        [together] = blocker.transactions()
        assert any("SET state = 'delivering'" in sql for sql in together)
        # the publishes, queued one after another, in one statement
        assert sum("INSERT INTO events" in sql for sql in together) == 1
        assert any("INSERT INTO identities" in sql for sql in together)
        assert (await storage.count_deliveries(org.id)).get("pending") == len(events)


async def test_a_write_that_fails_rolls_back_alone(tmp_path: Path) -> None:
    async with sqlite_file(tmp_path / "alone.db", "org_alone") as (storage, org):
        sub = await add_subscription(storage, make_subscription(org.id))
        await publish(storage, [sub])

        def broken(conn: sa.Connection) -> None:
            conn.exec_driver_sql("UPDATE deliveries SET last_error = 'broken'")
            raise RuntimeError("broken transaction")

        blocker = Blocker()
        first = await blocker.holding(storage)
        claim = asyncio.create_task(storage.claim_due(NOW_MS, 10, LEASE_MS))
        bad = asyncio.create_task(storage._transact(broken))
        taken = asyncio.create_task(storage.insert_identity(make_identity(org.id, "agent-a")))
        await _queued(storage, 3)
        blocker.gate.set()

        assert await first == "blocker"
        assert len(await claim) == 1
        with pytest.raises(RuntimeError, match="broken transaction"):
            await bad
        await taken
        # tried together, rolled back, then again with the broken one's work undone alone
        [tried, together] = blocker.transactions()
        assert tried[-1] == "ROLLBACK"
        assert any("SET state = 'delivering'" in sql for sql in together)
        assert any("INSERT INTO identities" in sql for sql in together)
        assert "ROLLBACK TO work" in together
        assert together[-1] == "COMMIT"
        assert await storage.claim_due(NOW_MS, 10, LEASE_MS) == []  # the claim landed
        assert await storage.identity_by_handle(org.id, "agent-a") is not None
        async with storage.engine.connect() as conn:
            broken_rows = await conn.exec_driver_sql(
                "SELECT count(*) FROM deliveries WHERE last_error = 'broken'"
            )
            assert broken_rows.scalar_one() == 0


async def test_a_read_never_waits_for_the_writer(tmp_path: Path) -> None:
    """While the writer is inside a transaction (holding SQLite's write lock, its changes not
    yet committed), reads answer at once, with what was committed before it."""
    async with sqlite_file(tmp_path / "reads.db", "org_reads") as (storage, org):
        sub = await add_subscription(storage, make_subscription(org.id))
        await publish(storage, [sub])
        blocker = Blocker()
        first = await blocker.holding(storage)
        try:
            found = await storage.get_organization(org.id)
            assert found is not None and found.name == org.name  # not yet 'blocked'
            assert await storage.count_deliveries(org.id) == {"pending": 1}
            assert await storage.schema_is_current()
        finally:
            blocker.gate.set()
        await first
        found = await storage.get_organization(org.id)
        assert found is not None and found.name == "blocked"


async def test_a_write_whose_caller_stops_waiting_still_lands_in_order(tmp_path: Path) -> None:
    async with sqlite_file(tmp_path / "cancel.db", "org_cancel") as (storage, _org):
        ran: list[str] = []

        def step(name: str) -> Callable[[sa.Connection], None]:
            return lambda conn: ran.append(name)

        blocker = Blocker()
        first = await blocker.holding(storage)
        stopped = asyncio.create_task(storage._transact(step("stopped")))
        await _queued(storage, 1)
        stopped.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stopped
        after = asyncio.create_task(storage._transact(step("after")))
        blocker.gate.set()
        await first
        await after
        assert ran == ["stopped", "after"]


async def test_the_cache_keeps_nothing_read_while_a_stopped_write_waits(tmp_path: Path) -> None:
    """A configuration write whose caller stops waiting still commits later: what is read
    meanwhile (from before its commit) must not be served from memory afterwards."""
    async with sqlite_file(tmp_path / "stale.db", "org_stale") as (storage, org):
        key, key_hash = make_api_key(org.id)
        await storage.insert_api_key(key, key_hash)
        cached = await storage.api_key_by_hash(key_hash)
        assert cached is not None and cached.revoked_at_ms is None

        blocker = Blocker()
        first = await blocker.holding(storage)
        revoking = asyncio.create_task(storage.revoke_api_key(org.id, key.id, NOW_MS + 1))
        await _queued(storage, 1)
        revoking.cancel()
        with pytest.raises(asyncio.CancelledError):
            await revoking
        meanwhile = await storage.api_key_by_hash(key_hash)
        assert meanwhile is not None and meanwhile.revoked_at_ms is None  # not committed yet
        blocker.gate.set()
        await first
        await storage._transact(lambda conn: None)  # queued after the revocation
        again = await storage.api_key_by_hash(key_hash)
        assert again is not None and again.revoked_at_ms == NOW_MS + 1
