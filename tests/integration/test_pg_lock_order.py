"""PostgreSQL: writes that meet on one subscription's rows. Deleting or disabling takes a
subscription's deliveries before its row, in the order an outcome write takes them, so the
two never wait on each other in a circle (storage/subscriptions_sql.py); a transaction that
PostgreSQL still aborts for a deadlock runs again, and one aborted every time it runs is a
``StorageUnavailable`` (answered 503), never an error of its own (a 500)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa

from hookline.core.models import Subscription
from hookline.storage import tables as t
from hookline.storage.outage import Contended
from hookline.storage.postgres import TRANSACTION_RUNS, PostgresStorage

from .conftest import (
    NOW_MS,
    add_subscription,
    behind,
    make_org,
    make_subscription,
    publish,
    reload,
)

_s, _d = t.subscriptions, t.deliveries

#: a statement that fails as a transaction PostgreSQL aborted for a deadlock does
_ABORTED = sa.text(
    "DO $$ BEGIN RAISE EXCEPTION 'aborted' USING ERRCODE = 'deadlock_detected'; END $$"
)


async def _someone_waits_for_a_lock(url: str) -> None:
    """Wait until a statement of another connection to this database waits for a lock."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        async with asyncio.timeout(10):
            while True:
                if await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                ):
                    return
                await asyncio.sleep(0.01)
    finally:
        await conn.close()


Change = Callable[[PostgresStorage, Subscription], Coroutine[Any, Any, object]]


async def _delete(storage: PostgresStorage, sub: Subscription) -> object:
    return await storage.delete_subscription(sub.organization_id, sub.id, NOW_MS + 2)


async def _disable(storage: PostgresStorage, sub: Subscription) -> object:
    return await storage.update_subscription(
        sub.organization_id, sub.id, {"enabled": False}, NOW_MS + 2
    )


@pytest.mark.parametrize(
    ("change", "left"), [(_delete, "cancelled"), (_disable, "held")], ids=["delete", "disable"]
)
async def test_a_change_takes_the_deliveries_before_the_subscriptions_row(
    pg_storage: PostgresStorage, pg_module_url: str, change: Change, left: str
) -> None:
    org = await pg_storage.ensure_default_organization(make_org())
    sub = await add_subscription(pg_storage, make_subscription(org.id))
    _, [delivery] = await publish(pg_storage, [sub])
    async with behind(pg_storage) as outcome:
        # an outcome write, halfway: its delivery's row taken...
        await outcome.execute(
            _d.update().where(_d.c.id == delivery.id).values(updated_ms=NOW_MS + 1)
        )
        task = asyncio.create_task(change(pg_storage, sub))
        await _someone_waits_for_a_lock(pg_module_url)  # the change waits for that row
        # ...and the subscription's row is still free for it to take next
        try:
            await outcome.execute(
                sa.text("SELECT id FROM subscriptions WHERE id = :id FOR NO KEY UPDATE NOWAIT"),
                {"id": sub.id},
            )
        except sa.exc.DBAPIError:
            pytest.fail("the change took the subscription's row before its deliveries")
        await outcome.execute(
            _s.update()
            .where(_s.c.id == sub.id, _s.c.failing_since_ms.is_(None))
            .values(failing_since_ms=NOW_MS + 1)
        )
    assert await asyncio.wait_for(task, 10)
    assert (await reload(pg_storage, delivery)).state == left


async def test_a_write_aborted_for_a_deadlock_runs_again(
    pg_storage: PostgresStorage, pg_module_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "hookline.storage")
    org = await pg_storage.ensure_default_organization(make_org())
    sub = await add_subscription(pg_storage, make_subscription(org.id))
    _, [delivery] = await publish(pg_storage, [sub])
    async with behind(pg_storage) as other:
        # this side's wait is checked for a deadlock long after the deletion's (1 s): the
        # deletion is the one PostgreSQL aborts
        await other.execute(sa.text("SET LOCAL deadlock_timeout = '10s'"))
        await other.execute(_s.update().where(_s.c.id == sub.id).values(updated_ms=NOW_MS + 1))
        task = asyncio.create_task(_delete(pg_storage, sub))
        # the deletion took the delivery's row and waits for the subscription's
        await _someone_waits_for_a_lock(pg_module_url)
        # the opposite order: this waits for the deletion, which waits for this
        await other.execute(_d.update().where(_d.c.id == delivery.id).values(updated_ms=NOW_MS))
    assert await asyncio.wait_for(task, 10)
    assert "running it again" in caplog.text
    assert (await reload(pg_storage, delivery)).state == "cancelled"
    assert await pg_storage.get_subscription(org.id, sub.id) is None


async def test_a_write_aborted_each_time_it_runs_is_unavailable_storage(
    pg_storage: PostgresStorage,
) -> None:
    runs: list[int] = []

    def aborted(conn: sa.Connection) -> None:
        runs.append(len(runs))
        conn.execute(_ABORTED)

    with pytest.raises(Contended, match="aborted a write"):
        await pg_storage._transact(aborted)
    assert len(runs) == TRANSACTION_RUNS


async def test_a_write_aborted_once_returns_what_its_next_run_does(
    pg_storage: PostgresStorage,
) -> None:
    runs: list[int] = []

    def once(conn: sa.Connection) -> int:
        runs.append(len(runs))
        if len(runs) == 1:
            conn.execute(_ABORTED)
        return int(conn.execute(sa.text("SELECT 7")).scalar_one())

    assert await pg_storage._transact(once) == 7
    assert len(runs) == 2
