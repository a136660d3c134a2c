"""SQLite only: the worker's transactions (claims, outcomes, releases) that wait while one
runs on the SQLite thread are written together in the next transaction; one that fails
rolls back alone, and the others' work lands."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from hookline.storage.factory import open_storage
from hookline.storage.records import NewDeliveries
from hookline.storage.sqlite import SqliteStorage

from .conftest import (
    LEASE_MS,
    NOW_MS,
    add_subscription,
    make_delivery,
    make_event,
    make_org,
    make_subscription,
    publish,
)


async def test_waiting_background_transactions_share_one_and_fail_alone(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'bg.db'}")
    assert isinstance(storage, SqliteStorage)
    try:
        await storage.migrate()
        org = await storage.ensure_default_organization(make_org())
        subs = [await add_subscription(storage, make_subscription(org.id)) for _ in range(3)]
        await publish(storage, subs)

        gate = threading.Event()
        statements: list[str] = []

        def blocker(conn: sa.Connection) -> str:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            raw.set_trace_callback(statements.append)
            gate.wait(5)  # holds the SQLite thread while the others queue up
            return "first"

        def broken(conn: sa.Connection) -> None:
            conn.exec_driver_sql("UPDATE deliveries SET last_error = 'broken'")
            raise RuntimeError("broken transaction")

        first = asyncio.create_task(storage._transact(blocker, background=True))
        await asyncio.sleep(0.05)
        claim = asyncio.create_task(storage.claim_due(NOW_MS, 10, LEASE_MS))
        bad = asyncio.create_task(storage._transact(broken, background=True))
        await asyncio.sleep(0.05)
        gate.set()

        assert await first == "first"
        claimed = await claim
        assert {c.subscription.id for c in claimed} == {s.id for s in subs}
        with pytest.raises(RuntimeError, match="broken transaction"):
            await bad
        # the claim and the broken write went together, then again each alone
        begun = [i for i, sql in enumerate(statements) if sql == "BEGIN IMMEDIATE"]
        assert len(begun) == 3, statements
        together = statements[begun[0] : begun[1]]
        assert any("UPDATE deliveries SET state = 'delivering'" in sql for sql in together)
        assert any("last_error = 'broken'" in sql for sql in together)
        # the claim landed (nothing is due any more); the broken write left no trace
        assert await storage.claim_due(NOW_MS, 10, LEASE_MS) == []
        async with storage.engine.connect() as conn:
            errors = await conn.execute(
                sa.text("SELECT count(*) FROM deliveries WHERE last_error = 'broken'")
            )
            assert errors.scalar_one() == 0
    finally:
        await storage.close()


async def test_a_large_publish_queues_on_the_thread_and_an_inline_write_is_not_overtaken(
    tmp_path: Path,
) -> None:
    """A publish of 500 rows or more runs on the SQLite thread, straight behind the thread's
    transaction under way (they hold the write lock together). Once an inline write waits for
    the lock, later thread transactions wait behind it rather than keep it from the lock."""
    storage = open_storage(f"sqlite:///{tmp_path / 'pipeline.db'}")
    assert isinstance(storage, SqliteStorage)
    try:
        await storage.migrate()
        org = await storage.ensure_default_organization(make_org())
        sub = await add_subscription(storage, make_subscription(org.id))

        gate = threading.Event()
        begun: list[str] = []  # the thread each transaction began on, in order

        def trace(sql: str) -> None:
            if sql == "BEGIN IMMEDIATE":
                begun.append(threading.current_thread().name)

        def blocker(conn: sa.Connection) -> str:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            raw.set_trace_callback(trace)
            gate.wait(5)  # holds the SQLite thread while the others queue up
            return "first"

        def inline(conn: sa.Connection) -> str:
            conn.exec_driver_sql("UPDATE deliveries SET last_error = 'inline'")
            return "inline"

        first = asyncio.create_task(storage._transact(blocker, background=True))
        await asyncio.sleep(0.05)
        events = [make_event(org.id) for _ in range(300)]  # 600 rows with their deliveries
        large = asyncio.create_task(
            storage.insert_events_with_deliveries(
                [NewDeliveries(event=e, deliveries=[make_delivery(e, sub)]) for e in events]
            )
        )
        await asyncio.sleep(0.05)
        assert storage._on_thread_count == 2  # queued behind the blocker, not at the lock
        waiting = asyncio.create_task(storage._transact(inline))
        await asyncio.sleep(0.05)
        later = asyncio.create_task(storage._transact(lambda conn: "later", background=True))
        await asyncio.sleep(0.05)
        assert storage._on_thread_count == 2  # the later one waits for the lock
        gate.set()

        assert await first == "first"
        assert [p.created for p in await large] == [True] * len(events)
        assert await waiting == "inline"
        assert await later == "later"
        # the large publish on the thread, the inline write on the loop's, the later one last
        assert [name.startswith("hookline-sqlite") for name in begun] == [True, False, True]
        assert (await storage.count_deliveries(org.id)).get("pending") == len(events)
    finally:
        await storage.close()
