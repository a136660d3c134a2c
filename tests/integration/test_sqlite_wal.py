"""SQLite only: the writer's commits never checkpoint the WAL, yet the WAL is checkpointed (by
a job of its own), so the database file keeps up with what was written, and the WAL starts
over instead of growing while writes go on."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
import struct
import time
from pathlib import Path

from hookline.storage.records import NewDeliveries
from hookline.storage.sqlite_wal import CHECKPOINT_INTERVAL_S, WAL_RESTART_FRAMES

from .conftest import add_subscription, make_delivery, make_event, make_subscription, sqlite_file


async def test_writes_are_checkpointed_beside_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    async with sqlite_file(path, "org_wal") as (storage, org):
        sub = await add_subscription(storage, make_subscription(org.id))
        # start from a clean WAL
        with contextlib.closing(sqlite3.connect(path)) as c:
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


def _wal_frames(path: Path) -> int:
    """The WAL's last valid frame (``mxFrame``), read from the wal-index header in the -shm
    file, without a connection of its own (which would take part in the checkpoints)."""
    header = Path(f"{path}-shm").read_bytes()[:48]
    return int(struct.unpack_from("=I", header, 16)[0])


async def test_the_wal_starts_over_under_a_steady_load(tmp_path: Path) -> None:
    # a checkpoint running beside the writes never finds all of the WAL copied, and SQLite
    # starts it over only then: it grew without end (1 GB in 30 s of 500 publishes/s)
    path = tmp_path / "steady.db"
    async with sqlite_file(path, "org_steady") as (storage, org):
        sub = await add_subscription(storage, make_subscription(org.id))

        async def publish() -> None:
            ev = make_event(org.id)
            await storage.insert_events_with_deliveries(
                [NewDeliveries(event=ev, deliveries=[make_delivery(ev, sub)])]
            )

        frames: list[int] = []
        writes = 0
        started = time.monotonic()
        while time.monotonic() - started < 8 * CHECKPOINT_INTERVAL_S:
            await asyncio.gather(*(publish() for _ in range(4)))
            writes += 4
            frames.append(_wal_frames(path))
            await asyncio.sleep(0.001)

        assert max(frames) >= WAL_RESTART_FRAMES, f"too few frames to test: {max(frames)}"
        restarts = sum(1 for a, b in itertools.pairwise(frames) if b < a)
        assert restarts >= 2, f"the WAL never started over: {frames[::50]}"
        assert await storage.count_deliveries(org.id) == {"pending": writes}
