"""Held deliveries on both databases: a disabled subscription's deliveries wait, unsent, for
it to be enabled again, and then are sent or dropped as the enabling says."""

from __future__ import annotations

import dataclasses

import pytest

from hookline.core.models import Delivery, Organization, Subscription
from hookline.storage.base import Storage
from hookline.storage.records import NewDeliveries

from .conftest import (
    LEASE_MS,
    NOW_MS,
    add_subscription,
    make_delivery,
    make_event,
    make_subscription,
    reload,
)

#: the in-memory storage implements these roles (conftest.py)
pytestmark = pytest.mark.memory


@pytest.fixture
async def paused(storage: Storage, org: Organization) -> Subscription:
    sub = await add_subscription(storage, make_subscription(org.id))
    off = await storage.update_subscription(org.id, sub.id, {"enabled": False}, NOW_MS)
    assert off is not None
    return off


async def _held(storage: Storage, sub: Subscription, n: int) -> list[Delivery]:
    """``n`` events published while ``sub`` is disabled: a held delivery each."""
    made = []
    for i in range(n):
        ev = make_event(sub.organization_id, at=NOW_MS + i)
        d = dataclasses.replace(make_delivery(ev, sub), state="held", next_attempt_at_ms=None)
        [published] = await storage.insert_events_with_deliveries(
            [NewDeliveries(event=ev, deliveries=[d])]
        )
        assert published.deliveries == 1
        made.append(d)
    return made


async def test_held_deliveries_are_never_claimed(storage: Storage, paused: Subscription) -> None:
    held = await _held(storage, paused, 3)
    assert await storage.claim_due(NOW_MS + 10 * LEASE_MS, 10, LEASE_MS) == []
    assert await storage.next_due_ms() is None
    assert await storage.count_deliveries(paused.organization_id) == {"held": 3}
    assert (await reload(storage, held[0])).state == "held"


async def test_enabling_with_send_makes_them_due_now(
    storage: Storage, paused: Subscription
) -> None:
    held = await _held(storage, paused, 3)
    at = NOW_MS + 1_000
    await storage.update_subscription(
        paused.organization_id, paused.id, {"enabled": True}, at, held="send"
    )
    for d in held:
        back = await reload(storage, d)
        assert (back.state, back.next_attempt_at_ms) == ("pending", at)
    claimed = await storage.claim_due(at, 10, LEASE_MS)
    assert sorted(c.delivery.id for c in claimed) == sorted(d.id for d in held)


async def test_enabling_with_drop_cancels_them(storage: Storage, paused: Subscription) -> None:
    held = await _held(storage, paused, 2)
    await storage.update_subscription(
        paused.organization_id, paused.id, {"enabled": True}, NOW_MS + 5, held="drop"
    )
    for d in held:
        back = await reload(storage, d)
        assert (back.state, back.next_attempt_at_ms) == ("cancelled", None)
        assert back.last_error is not None and "dropped" in back.last_error
    assert await storage.claim_due(NOW_MS + 10 * LEASE_MS, 10, LEASE_MS) == []


async def test_enabling_without_held_leaves_them_held(
    storage: Storage, paused: Subscription
) -> None:
    held = await _held(storage, paused, 2)
    enabled = await storage.update_subscription(
        paused.organization_id, paused.id, {"enabled": True}, NOW_MS + 5
    )
    assert enabled is not None and enabled.enabled
    assert {(await reload(storage, d)).state for d in held} == {"held"}
    assert await storage.claim_due(NOW_MS + 10 * LEASE_MS, 10, LEASE_MS) == []


async def test_deleting_cancels_held_deliveries(storage: Storage, paused: Subscription) -> None:
    [held] = await _held(storage, paused, 1)
    assert await storage.delete_subscription(paused.organization_id, paused.id, NOW_MS + 5)
    back = await reload(storage, held)
    assert (back.state, back.last_error) == ("cancelled", "subscription deleted")
