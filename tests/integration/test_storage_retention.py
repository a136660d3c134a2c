"""Retention on both databases: what is pruned, what stays, and in what batches.

Every time is explicit: the events are made "old" by giving them early times, and the cutoff
is a value, so nothing waits."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from hookline.core.models import Attempt, Delivery, DeliveryState, Event, Organization, Subscription
from hookline.services.retention import RetentionService, export_lines
from hookline.storage.base import Storage
from hookline.storage.factory import open_storage
from hookline.storage.records import NewDeliveries, PruneBatch, PruneCounts

from .conftest import (
    NOW_MS,
    add_subscription,
    make_attempt,
    make_delivery,
    make_event,
    make_subscription,
)

DAY_MS = 86_400_000
OLD_MS = NOW_MS
CUTOFF_MS = NOW_MS + 30 * DAY_MS


@pytest.fixture
async def sub(storage: Storage, org: Organization) -> Subscription:
    return await add_subscription(storage, make_subscription(org.id))


async def _event(
    storage: Storage,
    sub: Subscription,
    states: Sequence[DeliveryState],
    *,
    at: int = OLD_MS,
    changed_at: int | None = None,
) -> tuple[Event, list[Delivery], list[Attempt]]:
    """An event made at ``at`` with one delivery per state (last changed at ``changed_at``),
    and one attempt per delivery."""
    ev = make_event(sub.organization_id, at=at)
    deliveries = [
        dataclasses.replace(
            make_delivery(ev, sub, state=state, at=at),
            next_attempt_at_ms=at if state in ("pending", "delivering") else None,
            updated_at_ms=at if changed_at is None else changed_at,
        )
        for state in states
    ]
    await storage.insert_events_with_deliveries([NewDeliveries(event=ev, deliveries=deliveries)])
    attempts = [make_attempt(ev, sub=sub, delivery_id=d.id, at=at) for d in deliveries]
    for a in attempts:
        await storage.insert_attempt(a)
    return ev, deliveries, attempts


async def _prune_all(storage: Storage, cutoff_ms: int, batch: int = 1000) -> PruneCounts:
    total = PruneCounts()
    while True:
        found = await storage.prunable(cutoff_ms, batch)
        if not found.events and not found.attempts:
            return total
        total += await storage.prune(found, cutoff_ms)


async def test_prune_takes_old_final_events_whole_and_keeps_the_rest(
    storage: Storage, sub: Subscription
) -> None:
    done = await _event(storage, sub, ["succeeded", "failed", "cancelled"])
    routed_nowhere = await _event(storage, sub, [])
    waiting = await _event(storage, sub, ["succeeded", "pending"])
    held = await _event(storage, sub, ["held"])
    in_flight = await _event(storage, sub, ["delivering"])
    recent = await _event(storage, sub, ["succeeded"], at=CUTOFF_MS)
    # made long ago, but its delivery ended (a recover, say) since the cutoff
    lately_done = await _event(storage, sub, ["succeeded"], changed_at=CUTOFF_MS)
    lone_old = make_attempt(make_event(sub.organization_id), sub=sub, at=OLD_MS)
    lone_recent = make_attempt(make_event(sub.organization_id), sub=sub, at=CUTOFF_MS)
    for a in (lone_old, lone_recent):
        await storage.insert_attempt(a)

    expected = PruneCounts(events=2, deliveries=3, attempts=4)
    assert await storage.count_prunable(CUTOFF_MS) == expected
    assert await _prune_all(storage, CUTOFF_MS) == expected
    assert await storage.count_prunable(CUTOFF_MS) == PruneCounts()

    org_id = sub.organization_id
    for ev, _, attempts in (done, routed_nowhere):
        assert await storage.get_event(org_id, ev.id) is None
        assert await storage.deliveries_of_event(org_id, ev.id) == []
        for a in attempts:
            assert await storage.get_attempt(org_id, a.id) is None
    assert await storage.get_attempt(org_id, lone_old.id) is None
    # an event with a pending, held or delivering delivery stays whole, as do recent ones
    for ev, ds, attempts in (waiting, held, in_flight, recent, lately_done):
        assert await storage.get_event(org_id, ev.id) is not None
        kept = await storage.deliveries_of_event(org_id, ev.id)
        assert sorted(d.id for d in kept) == sorted(d.id for d in ds)
        for a in attempts:
            assert await storage.get_attempt(org_id, a.id) is not None
    assert await storage.get_attempt(org_id, lone_recent.id) is not None


async def test_prune_goes_a_batch_at_a_time_oldest_first(
    storage: Storage, sub: Subscription
) -> None:
    events = [(await _event(storage, sub, ["succeeded"], at=OLD_MS + i))[0] for i in range(5)]

    first = await storage.prunable(CUTOFF_MS, 2)
    assert first.events == tuple((e.organization_id, e.id) for e in events[:2])
    assert await storage.prune(first, CUTOFF_MS) == PruneCounts(events=2, deliveries=2, attempts=2)
    second = await storage.prunable(CUTOFF_MS, 2)
    assert second.events == tuple((e.organization_id, e.id) for e in events[2:4])
    assert await storage.count_prunable(CUTOFF_MS) == PruneCounts(
        events=3, deliveries=3, attempts=3
    )
    # what a cutoff before an event's time leaves out
    assert await storage.prunable(OLD_MS + 3, 10) == PruneBatch(events=second.events[:1])


async def test_a_batch_that_came_back_to_life_is_not_pruned(
    storage: Storage, sub: Subscription
) -> None:
    ev, [failed], _ = await _event(storage, sub, ["failed"])
    found = await storage.prunable(CUTOFF_MS, 10)
    assert found.events == ((ev.organization_id, ev.id),)
    # recovered between the batch's finding and its deleting
    assert await storage.requeue_failed(ev.organization_id, sub.id, OLD_MS, CUTOFF_MS) == 1

    assert await storage.prune(found, CUTOFF_MS) == PruneCounts()
    [back] = await storage.deliveries_of_event(ev.organization_id, ev.id)
    assert (back.id, back.state) == (failed.id, "pending")


async def test_read_prunable_gives_each_event_with_its_deliveries_and_attempts(
    storage: Storage, sub: Subscription
) -> None:
    ev, ds, attempts = await _event(storage, sub, ["succeeded", "cancelled"])
    lone = make_attempt(make_event(sub.organization_id), sub=sub, at=OLD_MS)
    await storage.insert_attempt(lone)

    rows = await storage.read_prunable(await storage.prunable(CUTOFF_MS, 10))

    [item] = rows.events
    assert item.event == ev
    assert sorted(d.id for d in item.deliveries) == sorted(d.id for d in ds)
    assert {d.state for d in item.deliveries} == {"succeeded", "cancelled"}
    assert sorted(a.id for a in item.attempts) == sorted(a.id for a in attempts)
    assert [a.id for a in rows.attempts] == [lone.id]


async def test_one_process_prunes_at_a_time(database_url: str, backend: str) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite has one process")
    first, second = open_storage(database_url), open_storage(database_url)
    try:
        async with first.prune_lock() as mine:
            assert mine
            async with second.prune_lock() as theirs:
                assert not theirs
        async with second.prune_lock() as theirs:
            assert theirs
    finally:
        await first.close()
        await second.close()


async def test_an_sqlite_file_of_an_earlier_version_is_switched_to_incremental_vacuum(
    tmp_path: Path,
) -> None:
    db = tmp_path / "earlier.db"
    with sqlite3.connect(db) as conn:  # made before: no auto vacuum, a table already there
        conn.execute("CREATE TABLE earlier (x)")
        conn.execute("INSERT INTO earlier VALUES (1)")
    conn.close()
    storage = open_storage(f"sqlite:///{db}")
    try:
        await storage.migrate()
        await storage.reclaim_space()  # nothing to give back: a no-op
    finally:
        await storage.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
        assert conn.execute("SELECT x FROM earlier").fetchall() == [(1,)]
    conn.close()


async def test_a_new_sqlite_file_is_made_with_incremental_vacuum_and_not_rewritten(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "new.db"
    storage = open_storage(f"sqlite:///{db}")
    try:
        with caplog.at_level(logging.INFO, logger="hookline.storage"):
            await storage.migrate()
    finally:
        await storage.close()
    assert not [r for r in caplog.records if "incremental vacuum" in r.getMessage()]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    conn.close()


@dataclasses.dataclass
class _Clock:
    now: int

    def now_ms(self) -> int:
        return self.now


async def test_the_workers_round_prunes_what_is_older_than_the_retention(
    storage: Storage, sub: Subscription
) -> None:
    kept, _, _ = await _event(storage, sub, ["succeeded"], at=OLD_MS + 2 * DAY_MS)
    gone, _, _ = await _event(storage, sub, ["succeeded"], at=OLD_MS)
    clock = _Clock(OLD_MS + 31 * DAY_MS + 1)  # 31 days after the first, 29 after the second
    retention = RetentionService(storage, clock, retention_days=30)
    seen: list[PruneCounts] = []

    done = await retention.prune(clock.now - 30 * DAY_MS, pause_s=0, progress=seen.append)
    assert done == PruneCounts(events=1, deliveries=1, attempts=1) == sum(seen, PruneCounts())
    assert await storage.get_event(sub.organization_id, gone.id) is None
    assert await storage.get_event(sub.organization_id, kept.id) is not None

    clock.now += 2 * DAY_MS
    assert await retention.prune_expired() == PruneCounts(events=1, deliveries=1, attempts=1)
    assert await storage.get_event(sub.organization_id, kept.id) is None


async def test_the_export_has_one_line_per_event(storage: Storage, sub: Subscription) -> None:
    ev, [d], [a] = await _event(storage, sub, ["failed"])
    lone = make_attempt(make_event(sub.organization_id), sub=sub, at=OLD_MS)
    await storage.insert_attempt(lone)
    rows = await storage.read_prunable(await storage.prunable(CUTOFF_MS, 10))

    first, second = (json.loads(line) for line in export_lines(rows))

    assert first["event"]["id"] == ev.id and first["event"]["data"] == dict(ev.data)
    assert [x["id"] for x in first["deliveries"]] == [d.id]
    assert first["deliveries"][0]["state"] == "failed"
    assert [x["id"] for x in first["attempts"]] == [a.id]
    assert second == {"event": None, "deliveries": [], "attempts": [second["attempts"][0]]}
    assert second["attempts"][0]["id"] == lone.id


async def test_a_stopping_worker_does_not_wait_out_the_rest_between_batches(
    storage: Storage, sub: Subscription
) -> None:
    for _ in range(2):
        await _event(storage, sub, ["succeeded"])
    retention = RetentionService(storage, _Clock(CUTOFF_MS), retention_days=30)
    stop = asyncio.Event()

    # a rest of at least 60 s after each batch: stopping ends it at once
    done = await asyncio.wait_for(
        retention.prune(CUTOFF_MS, batch=1, pause_s=60, progress=lambda _: stop.set(), stop=stop),
        timeout=10,
    )
    assert done == PruneCounts(events=1, deliveries=1, attempts=1)
