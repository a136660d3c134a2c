"""Storage contract: the queue's transactions at the sizes the worker and the API use.

Large batches (more rows than one SQLite statement may bind, so the SQLite side splits them)
and values that must come back exactly as written, whatever road a dialect takes them on.
"""

from __future__ import annotations

import pytest

from hookline.core.models import Event, Organization
from hookline.storage.base import Storage
from hookline.storage.records import AttemptFilter, NewDeliveries

from .conftest import (
    LEASE_MS,
    NOW_MS,
    add_subscription,
    make_delivery,
    make_event,
    make_outcome,
    make_subscription,
)

#: the in-memory storage implements these roles (conftest.py)
pytestmark = pytest.mark.memory

EVENTS = 1_000  # the API's largest batch
SUBSCRIPTIONS = 3  # 3,000 deliveries: above SQLite's 32,766 variables at 14 columns a row


async def test_a_full_batch_with_fan_out_is_stored_claimed_and_settled_whole(
    storage: Storage, org: Organization
) -> None:
    subs = [
        await add_subscription(storage, make_subscription(org.id, url=f"https://{i}.example.com"))
        for i in range(SUBSCRIPTIONS)
    ]
    events = [make_event(org.id, data={"message_id": f"msg_{n}", "n": n}) for n in range(EVENTS)]
    items = [NewDeliveries(event=e, deliveries=[make_delivery(e, s) for s in subs]) for e in events]
    published = await storage.insert_events_with_deliveries(items)
    assert [p.event.id for p in published] == [e.id for e in events]
    assert all(p.created and p.deliveries == SUBSCRIPTIONS for p in published)
    assert (await storage.count_deliveries(org.id)).get("pending") == EVENTS * SUBSCRIPTIONS

    claimed = []
    while batch := await storage.claim_due(NOW_MS, 1_000, LEASE_MS):
        claimed += batch
    assert len(claimed) == EVENTS * SUBSCRIPTIONS
    assert len({c.delivery.id for c in claimed}) == len(claimed)
    by_event = {e.id: e for e in events}
    assert all(c.event == by_event[c.event.id] for c in claimed)

    # 2,000 attempts in one batch: above the variables of one statement at 17 columns a row
    done = claimed[:2_000]
    outcomes = [make_outcome(c, at=NOW_MS + 5, state="succeeded", status=200) for c in done]
    recorded = await storage.record_outcomes(outcomes)
    assert recorded.changed == len(done)
    counts = await storage.count_deliveries(org.id)
    assert counts.get("succeeded") == len(done)
    assert counts.get("delivering") == len(claimed) - len(done)
    logged = await storage.list_attempts(org.id, AttemptFilter(limit=5_000))
    assert len(logged) == len(done)


async def test_a_repeated_batch_creates_nothing_and_reports_the_stored_events(
    storage: Storage, org: Organization
) -> None:
    sub = await add_subscription(storage, make_subscription(org.id))
    events = [make_event(org.id) for _ in range(50)]
    first = [NewDeliveries(event=e, deliveries=[make_delivery(e, sub)]) for e in events]
    await storage.insert_events_with_deliveries(first)
    # the same ids again, a new one among them, and one id twice within the batch
    fresh = make_event(org.id)
    again = [*events[:10], fresh, fresh]
    items = [NewDeliveries(event=e, deliveries=[make_delivery(e, sub)]) for e in again]
    published = await storage.insert_events_with_deliveries(items)
    assert [p.created for p in published] == [False] * 10 + [True, False]
    assert [p.deliveries for p in published] == [1] * 12
    assert (await storage.count_deliveries(org.id)).get("pending") == 51


async def test_a_large_batch_with_some_stored_ids_creates_only_the_new_ones(
    storage: Storage, org: Organization
) -> None:
    """Large enough for SQLite's thread road (500 rows or more), whose first look finds
    stored ids among them and so takes the exact road."""
    sub = await add_subscription(storage, make_subscription(org.id))
    stored = [make_event(org.id) for _ in range(300)]
    first = [NewDeliveries(event=e, deliveries=[make_delivery(e, sub)]) for e in stored]
    assert all(p.created for p in await storage.insert_events_with_deliveries(first))
    fresh = [make_event(org.id) for _ in range(400)]
    again = [*fresh[:200], *stored[:100], *fresh[200:]]
    items = [NewDeliveries(event=e, deliveries=[make_delivery(e, sub)]) for e in again]
    published = await storage.insert_events_with_deliveries(items)
    assert [p.event.id for p in published] == [e.id for e in again]
    assert [p.created for p in published] == [True] * 200 + [False] * 100 + [True] * 200
    assert (await storage.count_deliveries(org.id)).get("pending") == 700


@pytest.mark.parametrize("rate", [0.1 + 0.2, 1 / 3, 123456.789012345678, 5.0])
async def test_a_claim_carries_the_subscription_as_stored(
    storage: Storage, org: Organization, rate: float
) -> None:
    sub = await add_subscription(
        storage,
        make_subscription(
            org.id,
            rate_limit_per_second=rate,
            max_in_flight=3,
            headers={"X-Tenant": "ünïcode ✓", "X-Quote": 'a "b" \\ c'},
            retry_schedule=(0, 7, 60),
            domains=("example.com",),
        ),
    )
    data = {
        "text": 'line\nbreak ✓ \u2028 \\ "q" \u0000',
        "big": 2**62,
        "huge": 10**30,
        "neg": -1.5e-7,
        "nested": [{"a": None, "b": [True, False, 0.1]}],
        "empty": {},
    }
    event = Event(
        id="evt_exact_1",
        organization_id=org.id,
        type="message.received",
        data=data,
        occurred_at_ms=NOW_MS - 1,
        created_at_ms=NOW_MS,
        domain="example.com",
    )
    await storage.insert_events_with_deliveries(
        [NewDeliveries(event=event, deliveries=[make_delivery(event, sub)])]
    )
    [claimed] = await storage.claim_due(NOW_MS, 10, LEASE_MS)
    assert claimed.subscription == sub
    assert claimed.subscription.rate_limit_per_second == rate
    assert claimed.event == event
    assert claimed.event.data == data
