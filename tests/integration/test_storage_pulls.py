"""Storage contract: pull subscriptions — their consumers' leases, expiry, acknowledgements,
and the workers' claims leaving their deliveries alone."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

import pytest

from hookline.core.models import ClaimedDelivery, Delivery, Organization, Subscription
from hookline.storage.base import Storage
from hookline.storage.records import AttemptFilter, NewDeliveries, OutcomeRecord

from .conftest import (
    LEASE_MS,
    NOW_MS,
    SECOND_MS,
    add_subscription,
    make_delivery,
    make_event,
    make_outcome,
    make_subscription,
    reload,
)

#: the in-memory storage implements these roles (conftest.py)
pytestmark = pytest.mark.memory


@pytest.fixture
async def pull_sub(storage: Storage, org: Organization) -> Subscription:
    return await add_subscription(storage, make_subscription(org.id, url="", mode="pull"))


@pytest.fixture
async def push_sub(storage: Storage, org: Organization) -> Subscription:
    return await add_subscription(storage, make_subscription(org.id, url="https://a.example.com"))


async def _publish(storage: Storage, subs: list[Subscription], n: int = 1) -> list[Delivery]:
    """``n`` events, each with a delivery to every subscription (a pull one's made as the
    publish service makes it)."""
    items = []
    for _ in range(n):
        ev = make_event(subs[0].organization_id)
        made = [dataclasses.replace(make_delivery(ev, s), pull=s.mode == "pull") for s in subs]
        items.append(NewDeliveries(event=ev, deliveries=made))
    await storage.insert_events_with_deliveries(items)
    return [d for item in items for d in item.deliveries]


def _succeeded(at: int) -> Callable[[ClaimedDelivery, int], OutcomeRecord]:
    def outcome(c: ClaimedDelivery, leased_ms: int) -> OutcomeRecord:
        assert leased_ms <= at
        return make_outcome(c, at=at, state="succeeded", status=200)

    return outcome


async def test_subscription_mode_is_stored(
    storage: Storage, pull_sub: Subscription, push_sub: Subscription
) -> None:
    got = await storage.get_subscription(pull_sub.organization_id, pull_sub.id)
    assert got is not None and got.mode == "pull"
    got = await storage.get_subscription(push_sub.organization_id, push_sub.id)
    assert got is not None and got.mode == "push"


async def test_workers_never_claim_pull_deliveries(
    storage: Storage, pull_sub: Subscription, push_sub: Subscription
) -> None:
    pull_d, push_d = await _publish(storage, [pull_sub, push_sub])

    claimed = await storage.claim_due(NOW_MS, 10, LEASE_MS)

    assert [c.delivery.id for c in claimed] == [push_d.id]
    # nor do the worker's due times count it (it would wake for nothing, again and again):
    # the next is the push delivery's lease running out
    assert await storage.next_due_ms() == NOW_MS + LEASE_MS
    assert (await reload(storage, pull_d)).state == "pending"


async def test_a_pull_leases_its_subscriptions_deliveries_until_acknowledged(
    storage: Storage, pull_sub: Subscription
) -> None:
    [d] = await _publish(storage, [pull_sub])

    [c] = await storage.claim_due(NOW_MS, 10, LEASE_MS, only_subscription=pull_sub.id)
    assert c.delivery.id == d.id and c.subscription == pull_sub
    # held: neither another pull nor a later one within the lease gets it
    assert await storage.claim_due(NOW_MS + 1, 10, LEASE_MS, only_subscription=pull_sub.id) == []

    at = NOW_MS + SECOND_MS
    done = await storage.record_pulled(pull_sub.id, [(d.id, c.lease_token)], at, _succeeded(at))

    assert done.recorded == {d.id}
    stored = await reload(storage, d)
    assert (stored.state, stored.attempts, stored.last_status) == ("succeeded", 1, 200)
    [logged] = await storage.list_attempts(pull_sub.organization_id, AttemptFilter())
    assert logged.delivery_id == d.id and logged.response_status == 200


async def test_an_unacknowledged_lease_expires_and_falls_due_again(
    storage: Storage, pull_sub: Subscription
) -> None:
    [d] = await _publish(storage, [pull_sub])
    [first] = await storage.claim_due(NOW_MS, 10, LEASE_MS, only_subscription=pull_sub.id)

    assert (
        await storage.claim_due(NOW_MS + LEASE_MS - 1, 10, LEASE_MS, only_subscription=pull_sub.id)
        == []
    )
    [again] = await storage.claim_due(
        NOW_MS + LEASE_MS, 10, LEASE_MS, only_subscription=pull_sub.id
    )

    assert again.delivery.id == d.id
    assert again.lease_token != first.lease_token


async def test_an_ack_with_a_stale_unknown_or_expired_lease_changes_nothing(
    storage: Storage, pull_sub: Subscription
) -> None:
    [d] = await _publish(storage, [pull_sub])
    [first] = await storage.claim_due(NOW_MS, 10, LEASE_MS, only_subscription=pull_sub.id)

    # expired, though no one has leased it since
    late = NOW_MS + LEASE_MS
    expired = await storage.record_pulled(
        pull_sub.id, [(d.id, first.lease_token)], late, _succeeded(late)
    )
    [second] = await storage.claim_due(late, 10, LEASE_MS, only_subscription=pull_sub.id)
    at = late + 1
    stale = await storage.record_pulled(
        pull_sub.id, [(d.id, first.lease_token)], at, _succeeded(at)
    )
    unknown = await storage.record_pulled(pull_sub.id, [(d.id, "nope")], at, _succeeded(at))

    assert expired.recorded == stale.recorded == unknown.recorded == frozenset()
    stored = await reload(storage, d)
    assert (stored.state, stored.attempts) == ("delivering", 0)
    assert await storage.list_attempts(pull_sub.organization_id, AttemptFilter()) == []
    # the current lease still works
    ok = await storage.record_pulled(pull_sub.id, [(d.id, second.lease_token)], at, _succeeded(at))
    assert ok.recorded == {d.id}


async def test_an_ack_names_the_subscription_whose_delivery_it_is(
    storage: Storage, org: Organization, pull_sub: Subscription
) -> None:
    other = await add_subscription(storage, make_subscription(org.id, url="", mode="pull"))
    [d] = await _publish(storage, [pull_sub])
    [c] = await storage.claim_due(NOW_MS, 10, LEASE_MS, only_subscription=pull_sub.id)

    at = NOW_MS + 1
    wrong = await storage.record_pulled(other.id, [(d.id, c.lease_token)], at, _succeeded(at))

    assert wrong.recorded == frozenset()
    assert (await reload(storage, d)).attempts == 0


async def test_a_failed_ack_follows_the_retry_schedule(
    storage: Storage, pull_sub: Subscription
) -> None:
    [d] = await _publish(storage, [pull_sub])
    [c] = await storage.claim_due(NOW_MS, 10, LEASE_MS, only_subscription=pull_sub.id)
    retry_at = NOW_MS + 60 * SECOND_MS

    def failed(c: ClaimedDelivery, leased_ms: int) -> OutcomeRecord:
        return make_outcome(c, at=NOW_MS + 1, state="pending", status=500, next_ms=retry_at)

    await storage.record_pulled(pull_sub.id, [(d.id, c.lease_token)], NOW_MS + 1, failed)

    assert await storage.claim_due(retry_at - 1, 10, LEASE_MS, only_subscription=pull_sub.id) == []
    [again] = await storage.claim_due(retry_at, 10, LEASE_MS, only_subscription=pull_sub.id)
    assert (again.delivery.id, again.delivery.attempts) == (d.id, 1)


async def test_a_release_makes_leased_deliveries_due_at_once(
    storage: Storage, pull_sub: Subscription
) -> None:
    [d] = await _publish(storage, [pull_sub])
    [c] = await storage.claim_due(NOW_MS, 10, LEASE_MS, only_subscription=pull_sub.id)

    await storage.release([d.id], c.lease_token, NOW_MS + 1)

    [again] = await storage.claim_due(NOW_MS + 1, 10, LEASE_MS, only_subscription=pull_sub.id)
    assert (again.delivery.id, again.delivery.attempts) == (d.id, 0)


async def test_two_consumers_never_get_the_same_delivery(
    storage: Storage, pull_sub: Subscription
) -> None:
    made = await _publish(storage, [pull_sub], n=40)

    async def consumer() -> list[str]:
        got: list[str] = []
        while True:
            found = await storage.claim_due(NOW_MS, 3, LEASE_MS, only_subscription=pull_sub.id)
            if not found:
                return got
            got += [c.delivery.id for c in found]

    results = await asyncio.gather(*(consumer() for _ in range(4)))
    taken = [i for r in results for i in r]
    assert sorted(taken) == sorted(d.id for d in made)  # each once, none twice
