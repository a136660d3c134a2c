"""Storage contract: ``subscription_health`` (hourly attempt counts, the newest attempt,
failing since) and ``event_domains`` (the sending domains recent events named)."""

from __future__ import annotations

import pytest

from hookline.core.models import DeliveryState, Identity, Organization
from hookline.storage.base import Storage
from hookline.storage.records import HourCount, LastAttempt, SubscriptionHealth

from .conftest import (
    LEASE_MS,
    NOW_MS,
    OTHER_ORG_ID,
    add_organization,
    add_subscription,
    make_attempt,
    make_event,
    make_identity,
    make_org,
    make_outcome,
    make_subscription,
    publish,
)

#: the in-memory storage implements these roles (conftest.py)
pytestmark = pytest.mark.memory

HOUR_MS = 3_600_000


async def test_hourly_counts_newest_attempt_and_other_tenants(
    storage: Storage, org: Organization
) -> None:
    await add_organization(storage, make_org(OTHER_ORG_ID, name="Other"))
    busy = await add_subscription(storage, make_subscription(org.id))
    quiet = await add_subscription(storage, make_subscription(org.id, url="https://b.example"))
    foreign = await add_subscription(storage, make_subscription(OTHER_ORG_ID))
    ev = make_event(org.id)
    since = NOW_MS
    log = [
        make_attempt(ev, sub=busy, status=200, at=since - 1),  # before: not counted
        make_attempt(ev, sub=busy, status=200, at=since),
        make_attempt(ev, sub=busy, status=204, at=since + 10),
        make_attempt(ev, sub=busy, status=299, at=since + HOUR_MS - 1),
        make_attempt(ev, sub=busy, status=503, at=since + 20),
        make_attempt(ev, sub=busy, status=None, error_detail="refused", at=since + 2 * HOUR_MS),
        make_attempt(ev, sub=busy, status=302, at=since + 2 * HOUR_MS + 5),
        make_attempt(make_event(OTHER_ORG_ID), sub=foreign, status=500, at=since + 1),
    ]
    for attempt in log:
        await storage.insert_attempt(attempt)

    health = await storage.subscription_health(org.id, [busy.id, quiet.id, foreign.id], since)

    assert health == {
        busy.id: SubscriptionHealth(
            hours=(
                HourCount(hour=0, succeeded=3, failed=1),
                HourCount(hour=2, succeeded=0, failed=2),
            ),
            last=LastAttempt(status=302, error="failed", created_at_ms=since + 2 * HOUR_MS + 5),
            failing_since_ms=None,
        ),
        quiet.id: SubscriptionHealth(),
    }
    assert await storage.subscription_health(org.id, [], since) == {}
    assert await storage.subscription_health(OTHER_ORG_ID, [busy.id], since) == {}
    # a time before every attempt counts them all; the newest attempt does not depend on it
    later = await storage.subscription_health(org.id, [busy.id], since + 3 * HOUR_MS)
    assert later[busy.id].hours == ()
    assert later[busy.id].last == health[busy.id].last


async def test_failing_since_is_the_first_failure_of_the_current_run(
    storage: Storage, org: Organization
) -> None:
    sub = await add_subscription(storage, make_subscription(org.id))
    runs: tuple[tuple[int, DeliveryState, int], ...] = (
        (NOW_MS, "failed", 500),
        (NOW_MS + 10, "failed", 502),
    )
    for at, state, status in runs:
        await publish(storage, [sub], due_ms=at, at=at)
        [claimed] = await storage.claim_due(at, 1, LEASE_MS)
        await storage.record_outcomes(
            [make_outcome(claimed, at=at, state=state, status=status)], None
        )
    health = await storage.subscription_health(org.id, [sub.id], NOW_MS - HOUR_MS)
    assert health[sub.id].failing_since_ms == NOW_MS
    assert health[sub.id].hours == (HourCount(hour=1, succeeded=0, failed=2),)
    assert health[sub.id].last == LastAttempt(status=502, error="failed", created_at_ms=NOW_MS + 10)


async def test_event_domains_most_recent_first_distinct_and_bounded(
    storage: Storage, org: Organization
) -> None:
    await add_organization(storage, make_org(OTHER_ORG_ID, name="Other"))
    sub = await add_subscription(storage, make_subscription(org.id))
    named = [
        ("a.example.com", 1),
        ("b.example.com", 2),
        (None, 3),
        ("a.example.com", 4),
        ("c.example.com", 5),
    ]
    for domain, offset in named:
        await publish(storage, [sub], event=make_event(org.id, domain=domain, at=NOW_MS + offset))
    await publish(
        storage,
        [],
        event=make_event(OTHER_ORG_ID, domain="secret.example.net", at=NOW_MS + 9),
    )

    assert await storage.event_domains(org.id, 200) == [
        "c.example.com",
        "a.example.com",
        "b.example.com",
    ]
    assert await storage.event_domains(org.id, 2) == ["c.example.com", "a.example.com"]
    assert await storage.event_domains(OTHER_ORG_ID, 200) == ["secret.example.net"]


async def test_event_domains_of_one_identity(storage: Storage, org: Organization) -> None:
    a, b = make_identity(org.id, "agent-a"), make_identity(org.id, "agent-b")
    for one in (a, b):
        await storage.insert_identity(one)
    sub = await add_subscription(storage, make_subscription(org.id))
    domains: tuple[tuple[Identity | None, str, int], ...] = (
        (a, "a.example", 1),
        (b, "b.example", 2),
        (None, "org.example", 3),
    )
    for ident, domain, offset in domains:
        event = make_event(
            org.id, domain=domain, agent_identity_id=ident.id if ident else None, at=NOW_MS + offset
        )
        await publish(storage, [sub], event=event)

    assert await storage.event_domains(org.id, 10, identity_id=a.id) == ["a.example"]
    assert await storage.event_domains(org.id, 10, identity_id=b.id) == ["b.example"]
    assert await storage.event_domains(org.id, 10) == ["org.example", "b.example", "a.example"]
