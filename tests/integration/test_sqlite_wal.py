"""SQLite only: the queue's commits never checkpoint the WAL on the event loop, yet the WAL is
checkpointed (on a thread), so the database file keeps up with what was written."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from hookline.storage.base import NewDeliveries
from hookline.storage.sqlite import CHECKPOINT_INTERVAL_S

from .conftest import add_subscription, make_delivery, make_event, make_subscription, sqlite_file


async def test_queue_writes_are_checkpointed_off_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    async with sqlite_file(path, "org_wal") as (storage, org):
        sub = await add_subscription(storage, make_subscription(org.id))
        # the aiosqlite writer's own autocheckpoint has run by now; start from a clean WAL
        with sqlite3.connect(path) as c:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = path.stat().st_size

        for _ in range(3):
            items = []
            for _ in range(500):
                ev = make_event(org.id)
                items.append(NewDeliveries(event=ev, deliveries=[make_delivery(ev, sub)]))
            await storage.insert_events_with_deliveries(items)
            await asyncio.sleep(CHECKPOINT_INTERVAL_S + 0.1)

        # the first write's checkpoint found nothing yet; later ones copied what came before
        assert path.stat().st_size > before + 100_000
        assert await storage.count_deliveries(org.id) == {"pending": 1500}
