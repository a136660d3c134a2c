"""Background tasks on both databases: one active replay per subscription, leases that pass
to another worker when one dies, and batches that never re-queue a delivery twice."""

from __future__ import annotations

import asyncio
import dataclasses

from hookline.core import ids
from hookline.core.models import Delivery, DeliveryState, Organization, Subscription
from hookline.core.tasks import ReplayParams, ReplayStatus, Task
from hookline.storage.base import Storage
from hookline.storage.records import NewDeliveries, TaskFilter

from .conftest import (
    NOW_MS,
    OTHER_ORG_ID,
    add_organization,
    add_subscription,
    behind,
    make_delivery,
    make_event,
    make_org,
    make_subscription,
    reload,
)

LEASE_MS = 30_000
TYPES = ("message.received", "message.sent")


async def _deliveries(
    storage: Storage,
    sub: Subscription,
    n: int,
    *,
    state: DeliveryState = "failed",
    type: str = "message.received",
    start_ms: int = NOW_MS,
    attempts: int = 0,
) -> list[Delivery]:
    """``n`` events a millisecond apart, each with one delivery to ``sub`` in ``state``."""
    made = []
    for i in range(n):
        ev = make_event(sub.organization_id, type=type, at=start_ms + i)
        d = dataclasses.replace(
            make_delivery(ev, sub), state=state, next_attempt_at_ms=None, attempts=attempts
        )
        await storage.insert_events_with_deliveries([NewDeliveries(event=ev, deliveries=[d])])
        made.append(d)
    return made


def _task(
    sub: Subscription,
    *,
    status: ReplayStatus = "failed",
    since_ms: int = NOW_MS,
    until_ms: int = NOW_MS + 1_000_000,
    event_types: tuple[str, ...] = (),
) -> Task:
    return Task(
        id=ids.new_task_id(),
        organization_id=sub.organization_id,
        kind="replay",
        subscription_id=sub.id,
        owner_identity_id=sub.owner_identity_id,
        params=ReplayParams(
            since_ms=since_ms, until_ms=until_ms, status=status, event_types=event_types
        ),
        created_at_ms=NOW_MS,
        updated_at_ms=NOW_MS,
    )


async def _states(storage: Storage, deliveries: list[Delivery]) -> list[str]:
    return [(await reload(storage, d)).state for d in deliveries]


async def test_one_active_task_per_subscription(storage: Storage, org: Organization) -> None:
    sub = await add_subscription(storage, make_subscription(org.id, event_types=TYPES))
    other = await add_subscription(storage, make_subscription(org.id, event_types=TYPES))
    await _deliveries(storage, sub, 3)
    first = await storage.insert_task(_task(sub))
    assert (first.state, first.total) == ("queued", 3)

    again = await storage.insert_task(_task(sub))
    assert again.id == first.id, "the active one is answered, nothing new stored"
    assert [t.id for t in await storage.list_tasks(org.id, TaskFilter(), 10, 0)] == [first.id]

    # once it has finished, the subscription may have another
    claimed = await storage.claim_task(NOW_MS, LEASE_MS, "w1")
    assert claimed is not None and claimed.id == first.id and claimed.state == "running"
    assert (await storage.insert_task(_task(other))).id != first.id, "another's is its own"
    done = await storage.replay_batch(first.id, "w1", NOW_MS + 1, LEASE_MS, 100)
    assert done is not None and done.state == "succeeded"
    assert (await storage.insert_task(_task(sub))).id not in (first.id,)


async def test_of_two_made_at_once_one_is_stored(storage: Storage, org: Organization) -> None:
    sub = await add_subscription(storage, make_subscription(org.id, event_types=TYPES))
    made = await asyncio.gather(*(storage.insert_task(_task(sub)) for _ in range(4)))
    assert len({t.id for t in made}) == 1
    assert len(await storage.list_tasks(org.id, TaskFilter(), 10, 0)) == 1


async def test_batches_requeue_what_matches_oldest_first(
    storage: Storage, org: Organization
) -> None:
    sub = await add_subscription(storage, make_subscription(org.id, event_types=TYPES))
    other = await add_subscription(storage, make_subscription(org.id, event_types=TYPES))
    before = await _deliveries(storage, sub, 2, start_ms=NOW_MS - 100)
    failed = await _deliveries(storage, sub, 5, start_ms=NOW_MS)
    sent = await _deliveries(storage, sub, 2, type="message.sent", start_ms=NOW_MS + 10)
    ok = await _deliveries(storage, sub, 2, state="succeeded", start_ms=NOW_MS + 20)
    after = await _deliveries(storage, sub, 2, start_ms=NOW_MS + 500)
    elsewhere = await _deliveries(storage, other, 2, start_ms=NOW_MS)

    task = await storage.insert_task(
        _task(sub, until_ms=NOW_MS + 500, event_types=("message.received",))
    )
    assert task.total == 5
    assert await storage.claim_task(NOW_MS, LEASE_MS, "w1") is not None
    at = NOW_MS + 1_000
    first = await storage.replay_batch(task.id, "w1", at, LEASE_MS, 3)
    assert first is not None and (first.state, first.requeued) == ("running", 3)
    assert await _states(storage, failed) == ["pending"] * 3 + ["failed"] * 2
    back = await reload(storage, failed[0])
    assert (back.attempts, back.next_attempt_at_ms, back.event_id) == (0, at, failed[0].event_id)

    last = await storage.replay_batch(task.id, "w1", at, LEASE_MS, 3)
    assert last is not None and (last.state, last.requeued, last.skipped) == ("succeeded", 5, 0)
    assert last.finished_at_ms == at
    assert await _states(storage, failed) == ["pending"] * 5
    for untouched in (before, sent, after, elsewhere):
        assert set(await _states(storage, untouched)) == {"failed"}
    assert set(await _states(storage, ok)) == {"succeeded"}
    # the re-queued ones are due: a worker's claim takes them
    claimed = await storage.claim_due(at, 100, LEASE_MS)
    assert sorted(c.delivery.id for c in claimed) == sorted(d.id for d in failed)


async def test_held_and_succeeded_are_replayed_too(storage: Storage, org: Organization) -> None:
    sub = await add_subscription(storage, make_subscription(org.id, event_types=TYPES))
    held = await _deliveries(storage, sub, 2, state="held")
    ok = await _deliveries(storage, sub, 2, state="succeeded", start_ms=NOW_MS + 10)
    for status, rows in (("held", held), ("succeeded", ok)):
        task = await storage.insert_task(_task(sub, status=status))  # type: ignore[arg-type]
        assert await storage.claim_task(NOW_MS, LEASE_MS, "w") is not None
        done = await storage.replay_batch(task.id, "w", NOW_MS + 5, LEASE_MS, 10)
        assert done is not None and (done.state, done.requeued) == ("succeeded", 2)
        assert await _states(storage, rows) == ["pending", "pending"]


async def test_what_was_sent_before_comes_back_as_a_replay(
    storage: Storage, org: Organization
) -> None:
    """Its next attempts are logged as replays (outbound.py); a held delivery, never sent, is
    sent for the first time."""
    sub = await add_subscription(storage, make_subscription(org.id, event_types=TYPES))
    [held] = await _deliveries(storage, sub, 1, state="held")
    [ok] = await _deliveries(storage, sub, 1, state="succeeded", start_ms=NOW_MS + 10, attempts=1)
    for status in ("held", "succeeded"):
        task = await storage.insert_task(_task(sub, status=status))
        assert await storage.claim_task(NOW_MS, LEASE_MS, "w") is not None
        done = await storage.replay_batch(task.id, "w", NOW_MS + 5, LEASE_MS, 10)
        assert done is not None and done.requeued == 1
    assert (await reload(storage, ok)).replay
    claimed = await storage.claim_due(NOW_MS + 5, 10, LEASE_MS)
    assert {c.delivery.id: c.delivery.replay for c in claimed} == {held.id: False, ok.id: True}


async def test_a_stale_worker_writes_nothing_and_none_is_requeued_twice(
    storage: Storage, org: Organization
) -> None:
    sub = await add_subscription(storage, make_subscription(org.id, event_types=TYPES))
    failed = await _deliveries(storage, sub, 6)
    task = await storage.insert_task(_task(sub))
    assert await storage.claim_task(NOW_MS, LEASE_MS, "dead") is not None
    # while its lease runs, no other worker takes the task
    assert await storage.claim_task(NOW_MS + LEASE_MS - 1, LEASE_MS, "other") is None
    one = await storage.replay_batch(task.id, "dead", NOW_MS + 10, LEASE_MS, 2)
    assert one is not None and one.requeued == 2
    # those two fail again before the worker dies: a replay from the start would take them
    await _set_state(storage, failed[:2], "failed")

    later = NOW_MS + 10 + LEASE_MS + 1
    taken = await storage.claim_task(later, LEASE_MS, "next")
    assert taken is not None and taken.id == task.id and taken.requeued == 2
    # the first worker wakes up: its lease is gone, and its batch writes nothing
    assert await storage.replay_batch(task.id, "dead", later + 1, LEASE_MS, 2) is None
    assert await _states(storage, failed) == ["failed"] * 6

    done = await storage.replay_batch(task.id, "next", later + 2, LEASE_MS, 10)
    assert done is not None and (done.state, done.requeued) == ("succeeded", 6)
    assert await _states(storage, failed) == ["failed"] * 2 + ["pending"] * 4
    assert await storage.claim_task(later + 10 * LEASE_MS, LEASE_MS, "any") is None


async def test_a_released_task_is_taken_at_once(storage: Storage, org: Organization) -> None:
    sub = await add_subscription(storage, make_subscription(org.id, event_types=TYPES))
    await _deliveries(storage, sub, 1)
    task = await storage.insert_task(_task(sub))
    assert await storage.claim_task(NOW_MS, LEASE_MS, "stopping") is not None
    await storage.release_task(task.id, "stopping", NOW_MS + 1)
    again = await storage.claim_task(NOW_MS + 2, LEASE_MS, "next")
    assert again is not None and again.id == task.id


async def test_types_no_longer_taken_are_skipped_and_a_deleted_subscription_fails(
    storage: Storage, org: Organization
) -> None:
    sub = await add_subscription(storage, make_subscription(org.id, event_types=TYPES))
    received = await _deliveries(storage, sub, 2)
    sent = await _deliveries(storage, sub, 2, type="message.sent", start_ms=NOW_MS + 10)
    task = await storage.insert_task(_task(sub))
    assert task.total == 4
    await storage.update_subscription(org.id, sub.id, {"event_types": ["message.sent"]}, NOW_MS)
    assert await storage.claim_task(NOW_MS, LEASE_MS, "w") is not None
    done = await storage.replay_batch(task.id, "w", NOW_MS + 1, LEASE_MS, 10)
    assert done is not None and (done.requeued, done.skipped) == (2, 2)
    assert await _states(storage, received) == ["failed", "failed"]
    assert await _states(storage, sent) == ["pending", "pending"]

    gone = await storage.insert_task(_task(sub))
    assert await storage.delete_subscription(org.id, sub.id, NOW_MS + 2)
    assert await storage.claim_task(NOW_MS + 3, LEASE_MS, "w") is not None
    failed = await storage.replay_batch(gone.id, "w", NOW_MS + 4, LEASE_MS, 10)
    assert failed is not None and failed.state == "failed"
    assert failed.error is not None and "deleted" in failed.error


async def test_tasks_are_listed_per_tenant_and_owner(storage: Storage, org: Organization) -> None:
    other_org = make_org(OTHER_ORG_ID, name="Other")
    await add_organization(storage, other_org)
    mine = await add_subscription(
        storage, make_subscription(org.id, event_types=TYPES, owner_identity_id="ident-a")
    )
    theirs = await add_subscription(storage, make_subscription(OTHER_ORG_ID, event_types=TYPES))
    a = await storage.insert_task(_task(mine))
    b = await storage.insert_task(_task(theirs))
    assert await storage.get_task(org.id, b.id) is None
    assert (await storage.get_task(OTHER_ORG_ID, b.id)) == b
    assert [t.id for t in await storage.list_tasks(org.id, TaskFilter(), 10, 0)] == [a.id]
    owned = TaskFilter(owner_identity_id="ident-a")
    assert [t.id for t in await storage.list_tasks(org.id, owned, 10, 0)] == [a.id]
    nobody = TaskFilter(owner_identity_id="ident-b")
    assert await storage.list_tasks(org.id, nobody, 10, 0) == []
    by_sub = TaskFilter(subscription_id=mine.id)
    assert [t.id for t in await storage.list_tasks(org.id, by_sub, 10, 0)] == [a.id]


async def _set_state(storage: Storage, deliveries: list[Delivery], state: str) -> None:
    from hookline.storage import tables
    from hookline.storage.sql import SqlStorage

    assert isinstance(storage, SqlStorage)
    d = tables.deliveries
    async with behind(storage) as conn:
        await conn.execute(
            d.update().where(d.c.id.in_([x.id for x in deliveries])).values(state=state)
        )
