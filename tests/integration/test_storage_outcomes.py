"""Storage contract: ``record_outcomes`` — attempts logged, leases honoured, health tracked.

The promise (``Storage.record_outcomes``): log every attempt; move each delivery whose lease is
still held to its new state (``Recorded.changed`` counts those); track since when each
subscription has been failing without a success, and disable one failing for
``disable_after_ms`` or more, or whose outcome asks for it, keeping its undelivered deliveries
as ``failed``.
"""

from __future__ import annotations

import dataclasses

import pytest

from hookline.core.models import ClaimedDelivery, Organization, Subscription
from hookline.core.timefmt import iso_from_ms
from hookline.storage.base import Storage
from hookline.storage.records import AttemptFilter, Disabled, Recorded

from .conftest import (
    LEASE_MS,
    NOW_MS,
    SECOND_MS,
    add_subscription,
    make_outcome,
    make_subscription,
    publish,
    reload,
)

#: the in-memory storage implements these roles (conftest.py)
pytestmark = pytest.mark.memory

DISABLE_AFTER_MS = 60 * SECOND_MS
RETRY_MS = SECOND_MS


@pytest.fixture
async def sub(storage: Storage, org: Organization) -> Subscription:
    return await add_subscription(storage, make_subscription(org.id, url="https://a.example.com"))


@pytest.fixture
async def bystander(storage: Storage, org: Organization) -> Subscription:
    return await add_subscription(storage, make_subscription(org.id, url="https://b.example.com"))


async def _claim_one(storage: Storage, now_ms: int, sub: Subscription) -> ClaimedDelivery:
    [claimed] = await storage.claim_due(now_ms, 1, LEASE_MS)
    assert claimed.subscription.id == sub.id
    return claimed


async def _fail(storage: Storage, sub: Subscription, at: int) -> Recorded:
    """Publish one delivery of ``sub`` due at ``at``, claim it and record a final 500."""
    await publish(storage, [sub], due_ms=at, at=at)
    claimed = await _claim_one(storage, at, sub)
    return await storage.record_outcomes(
        [make_outcome(claimed, at=at, state="failed", status=500)], DISABLE_AFTER_MS
    )


async def _succeed(storage: Storage, sub: Subscription, at: int) -> Recorded:
    await publish(storage, [sub], due_ms=at, at=at)
    claimed = await _claim_one(storage, at, sub)
    return await storage.record_outcomes(
        [make_outcome(claimed, at=at, state="succeeded", status=200)], DISABLE_AFTER_MS
    )


def _summary(recorded: Recorded) -> tuple[int, list[Disabled]]:
    """``Recorded`` as plain values (``disabled`` may be any sequence)."""
    return recorded.changed, list(recorded.disabled)


def _reason(since_ms: int) -> str:
    return f"failing continuously since {iso_from_ms(since_ms)} (60 s or more)"


# -- state and log ---------------------------------------------------------------------------
async def test_a_success_is_logged_and_settles_the_delivery(
    storage: Storage, sub: Subscription
) -> None:
    _, [d] = await publish(storage, [sub])
    claimed = await _claim_one(storage, NOW_MS, sub)
    outcome = make_outcome(claimed, at=NOW_MS + 40, state="succeeded", status=200)

    assert _summary(await storage.record_outcomes([outcome])) == (1, [])

    assert await reload(storage, d) == dataclasses.replace(
        d,
        state="succeeded",
        attempts=1,
        next_attempt_at_ms=None,
        first_attempt_at_ms=NOW_MS + 40,
        last_attempt_at_ms=NOW_MS + 40,
        last_status=200,
        last_error=None,
        updated_at_ms=NOW_MS + 40,
    )
    assert await storage.get_attempt(sub.organization_id, outcome.attempt.id) == outcome.attempt
    assert await storage.next_due_ms() is None


async def test_a_retry_keeps_the_first_attempt_time_and_counts_attempts(
    storage: Storage, sub: Subscription
) -> None:
    _, [d] = await publish(storage, [sub])
    first = await _claim_one(storage, NOW_MS, sub)
    retry_at = NOW_MS + 30 * SECOND_MS
    await storage.record_outcomes(
        [make_outcome(first, at=NOW_MS, state="pending", status=503, next_ms=retry_at)]
    )
    pending = await reload(storage, d)
    assert (pending.state, pending.attempts, pending.next_attempt_at_ms) == (
        "pending",
        1,
        retry_at,
    )
    assert (pending.first_attempt_at_ms, pending.last_status, pending.last_error) == (
        NOW_MS,
        503,
        "failed",
    )
    assert await storage.claim_due(retry_at - 1, 1, LEASE_MS) == []

    second = await _claim_one(storage, retry_at, sub)
    assert second.delivery.attempts == 1
    failed_at = retry_at + 5
    recorded = await storage.record_outcomes(
        [make_outcome(second, at=failed_at, state="failed", status=None)]
    )
    assert recorded.changed == 1
    assert await reload(storage, d) == dataclasses.replace(
        pending,
        state="failed",
        attempts=2,
        next_attempt_at_ms=None,
        first_attempt_at_ms=NOW_MS,
        last_attempt_at_ms=failed_at,
        last_status=None,
        last_error="failed",
        updated_at_ms=failed_at,
    )
    logged = await storage.list_attempts(sub.organization_id, AttemptFilter(event_id=d.event_id))
    assert [(a.response_status, a.created_at_ms) for a in logged] == [
        (None, failed_at),
        (503, NOW_MS),
    ]


async def test_a_stale_lease_changes_nothing_but_the_attempt_is_still_logged(
    storage: Storage, sub: Subscription
) -> None:
    _, [d] = await publish(storage, [sub])
    lost = await _claim_one(storage, NOW_MS, sub)
    # the lease expires and another worker takes the delivery
    holder = await _claim_one(storage, NOW_MS + LEASE_MS, sub)
    late = make_outcome(lost, at=NOW_MS + LEASE_MS + 1, state="succeeded", status=200)

    assert _summary(await storage.record_outcomes([late])) == (0, [])
    assert await reload(storage, d) == holder.delivery
    assert await storage.get_attempt(sub.organization_id, late.attempt.id) == late.attempt

    # a forged token is no better than a lost one
    forged = make_outcome(
        holder,
        at=NOW_MS + LEASE_MS + 2,
        state="failed",
        status=500,
        lease_token="00000000-0000-4000-8000-000000000000",
    )
    assert (await storage.record_outcomes([forged])).changed == 0
    assert await reload(storage, d) == holder.delivery

    # the holder's own outcome still lands, and only once
    own = make_outcome(holder, at=NOW_MS + LEASE_MS + 3, state="succeeded", status=201)
    assert (await storage.record_outcomes([own])).changed == 1
    again = make_outcome(holder, at=NOW_MS + LEASE_MS + 4, state="failed", status=500)
    assert (await storage.record_outcomes([again])).changed == 0
    settled = await reload(storage, d)
    assert (settled.state, settled.attempts, settled.last_status) == ("succeeded", 1, 201)
    logged = await storage.list_attempts(sub.organization_id, AttemptFilter(event_id=d.event_id))
    assert len(logged) == 4


async def test_an_attempt_under_way_when_its_subscription_is_deleted_is_recorded_truthfully(
    storage: Storage, sub: Subscription, bystander: Subscription
) -> None:
    await publish(storage, [sub, bystander])
    await publish(storage, [sub], at=NOW_MS + 1)
    claimed = await storage.claim_due(NOW_MS + 1, 3, LEASE_MS)
    [sent, unsent] = [c for c in claimed if c.subscription.id == sub.id]
    [other] = [c for c in claimed if c.subscription.id == bystander.id]
    # deleted while one delivery's attempt is under way and the other waits in a lane
    assert await storage.delete_subscription(sub.organization_id, sub.id, NOW_MS + 2)

    recorded = await storage.record_outcomes(
        [
            make_outcome(sent, at=NOW_MS + 3, state="succeeded", status=200),
            make_outcome(other, at=NOW_MS + 3, state="succeeded", status=200),
        ]
    )

    # the attempt that was made delivered its event: that is what the delivery says, and
    # nothing (recover, held replay) may send it again; the one never sent stays cancelled
    assert _summary(recorded) == (2, [])
    done = await reload(storage, sent.delivery)
    assert (done.state, done.attempts, done.last_status) == ("succeeded", 1, 200)
    assert (await reload(storage, unsent.delivery)).state == "cancelled"
    assert (await reload(storage, other.delivery)).state == "succeeded"
    logged = await storage.list_attempts(sub.organization_id, AttemptFilter())
    assert len(logged) == 2


async def test_an_attempt_under_way_when_its_subscription_is_disabled_keeps_it_held(
    storage: Storage, sub: Subscription
) -> None:
    await publish(storage, [sub])
    await publish(storage, [sub], at=NOW_MS + 1)
    ok, failing = await storage.claim_due(NOW_MS + 1, 2, LEASE_MS)
    off = await storage.update_subscription(
        sub.organization_id, sub.id, {"enabled": False}, NOW_MS + 2
    )
    assert off is not None and not off.enabled

    recorded = await storage.record_outcomes(
        [
            make_outcome(ok, at=NOW_MS + 3, state="succeeded", status=204),
            make_outcome(failing, at=NOW_MS + 3, state="pending", status=500, next_ms=NOW_MS + 9),
        ]
    )

    assert recorded.changed == 2
    sent = await reload(storage, ok.delivery)
    assert (sent.state, sent.attempts, sent.last_status) == ("succeeded", 1, 204)
    # a failed attempt leaves it held (not due: the subscription is off), its attempt counted
    held = await reload(storage, failing.delivery)
    assert (held.state, held.attempts, held.last_status) == ("held", 1, 500)
    assert held.next_attempt_at_ms is None
    # enabling sends the held one again, and only that one
    back = await storage.update_subscription(
        sub.organization_id, sub.id, {"enabled": True}, NOW_MS + 4, held="send"
    )
    assert back is not None
    again = await storage.claim_due(NOW_MS + 5, 10, LEASE_MS)
    assert [c.delivery.id for c in again] == [failing.delivery.id]


async def test_enabling_voids_the_lease_of_an_attempt_under_way_while_disabled(
    storage: Storage, sub: Subscription
) -> None:
    await publish(storage, [sub])
    [leased] = await storage.claim_due(NOW_MS, 1, LEASE_MS)
    await storage.update_subscription(sub.organization_id, sub.id, {"enabled": False}, NOW_MS + 1)
    await storage.update_subscription(
        sub.organization_id, sub.id, {"enabled": True}, NOW_MS + 2, held="send"
    )
    # due again, and claimed by someone: the old attempt's outcome is logged, not applied
    [holder] = await storage.claim_due(NOW_MS + 3, 1, LEASE_MS)
    late = make_outcome(leased, at=NOW_MS + 4, state="succeeded", status=200)
    assert (await storage.record_outcomes([late])).changed == 0
    assert await reload(storage, leased.delivery) == holder.delivery
    assert await storage.get_attempt(sub.organization_id, late.attempt.id) == late.attempt


async def test_an_empty_batch_records_nothing(storage: Storage) -> None:
    assert _summary(await storage.record_outcomes([], DISABLE_AFTER_MS)) == (0, [])


# -- health ----------------------------------------------------------------------------------
async def test_a_subscription_failing_for_disable_after_ms_is_disabled(
    storage: Storage, sub: Subscription, bystander: Subscription
) -> None:
    _, [waiting, unrelated] = await publish(
        storage, [sub, bystander], due_ms=NOW_MS + 3600 * SECOND_MS
    )
    assert _summary(await _fail(storage, sub, NOW_MS)) == (1, [])
    assert _summary(await _fail(storage, sub, NOW_MS + DISABLE_AFTER_MS - 1)) == (1, [])

    at = NOW_MS + DISABLE_AFTER_MS
    recorded = await _fail(storage, sub, at)

    disabled = dataclasses.replace(
        sub, enabled=False, disabled_reason=_reason(NOW_MS), updated_at_ms=at
    )
    assert _summary(recorded) == (1, [Disabled(subscription=disabled, reason=_reason(NOW_MS))])
    assert await storage.get_subscription(sub.organization_id, sub.id) == disabled
    # its undelivered deliveries are held, until it is enabled again; the others go on
    kept = await reload(storage, waiting)
    assert (kept.state, kept.last_error, kept.next_attempt_at_ms) == (
        "held",
        _reason(NOW_MS),
        None,
    )
    assert await storage.count_deliveries(sub.organization_id) == {
        "failed": 3,
        "held": 1,
        "pending": 1,
    }
    assert (await reload(storage, unrelated)).state == "pending"


async def test_without_disable_after_ms_a_failing_subscription_stays_enabled(
    storage: Storage, sub: Subscription
) -> None:
    await publish(storage, [sub])
    claimed = await _claim_one(storage, NOW_MS, sub)
    await storage.record_outcomes([make_outcome(claimed, at=NOW_MS, state="failed", status=500)])
    await publish(storage, [sub], at=NOW_MS + 10 * DISABLE_AFTER_MS)
    late = await _claim_one(storage, NOW_MS + 10 * DISABLE_AFTER_MS, sub)
    recorded = await storage.record_outcomes(
        [make_outcome(late, at=NOW_MS + 10 * DISABLE_AFTER_MS, state="failed", status=500)]
    )
    assert _summary(recorded) == (1, [])
    got = await storage.get_subscription(sub.organization_id, sub.id)
    assert got is not None
    assert got.enabled is True


async def test_a_success_restarts_the_failure_clock(storage: Storage, sub: Subscription) -> None:
    await _fail(storage, sub, NOW_MS)
    await _succeed(storage, sub, NOW_MS + 10 * SECOND_MS)
    restarted = NOW_MS + 20 * SECOND_MS
    await _fail(storage, sub, restarted)

    assert _summary(await _fail(storage, sub, NOW_MS + DISABLE_AFTER_MS + 1)) == (1, [])
    recorded = await _fail(storage, sub, restarted + DISABLE_AFTER_MS)
    assert [d.reason for d in recorded.disabled] == [_reason(restarted)]


async def test_re_enabling_restarts_the_failure_clock(storage: Storage, sub: Subscription) -> None:
    await _fail(storage, sub, NOW_MS)
    recorded = await _fail(storage, sub, NOW_MS + DISABLE_AFTER_MS)
    assert [d.subscription.id for d in recorded.disabled] == [sub.id]

    back = NOW_MS + DISABLE_AFTER_MS + 1
    enabled = await storage.update_subscription(
        sub.organization_id, sub.id, {"enabled": True, "disabled_reason": None}, back
    )
    assert enabled == dataclasses.replace(sub, updated_at_ms=back)
    assert _summary(await _fail(storage, sub, back + 1)) == (1, [])
    assert _summary(await _fail(storage, sub, back + DISABLE_AFTER_MS)) == (1, [])
    recorded = await _fail(storage, sub, back + 1 + DISABLE_AFTER_MS)
    assert [d.reason for d in recorded.disabled] == [_reason(back + 1)]


async def test_failing_since_is_the_first_failure_of_a_batch(
    storage: Storage, sub: Subscription
) -> None:
    await publish(storage, [sub], due_ms=NOW_MS)
    await publish(storage, [sub], due_ms=NOW_MS)
    first, second = await storage.claim_due(NOW_MS, 2, LEASE_MS)
    end = NOW_MS + DISABLE_AFTER_MS

    recorded = await storage.record_outcomes(
        [
            make_outcome(first, at=NOW_MS, state="pending", status=500, next_ms=end),
            make_outcome(second, at=end, state="pending", status=500, next_ms=end + RETRY_MS),
        ],
        DISABLE_AFTER_MS,
    )

    assert [d.reason for d in recorded.disabled] == [_reason(NOW_MS)]


async def test_an_outcome_asking_for_it_disables_at_once(
    storage: Storage, sub: Subscription, bystander: Subscription
) -> None:
    _, [gone, other] = await publish(storage, [sub, bystander])
    _, [in_flight] = await publish(storage, [sub])
    _, [waiting] = await publish(storage, [sub], due_ms=NOW_MS + 3600 * SECOND_MS)
    claimed = {c.delivery.id: c for c in await storage.claim_due(NOW_MS, 10, LEASE_MS)}
    assert set(claimed) == {gone.id, other.id, in_flight.id}
    reason = "endpoint answered 410 Gone"
    at = NOW_MS + 5

    recorded = await storage.record_outcomes(
        [
            make_outcome(
                claimed[gone.id], at=at, state="failed", status=410, disable_reason=reason
            ),
            make_outcome(claimed[other.id], at=at, state="pending", status=500, next_ms=at + 1),
        ]
    )

    disabled = dataclasses.replace(sub, enabled=False, disabled_reason=reason, updated_at_ms=at)
    assert _summary(recorded) == (2, [Disabled(subscription=disabled, reason=reason)])
    assert await storage.get_subscription(sub.organization_id, sub.id) == disabled
    assert (await reload(storage, gone)).state == "failed"
    for d in (in_flight, waiting):
        kept = await reload(storage, d)
        assert (kept.state, kept.last_error, kept.next_attempt_at_ms) == ("held", reason, None)
    assert (await reload(storage, other)).state == "pending"
    assert await storage.get_subscription(bystander.organization_id, bystander.id) == bystander

    # the delivery that was in flight is counted and stays held; its 410 disables nothing new
    late = make_outcome(
        claimed[in_flight.id], at=at + 1, state="failed", status=410, disable_reason=reason
    )
    assert _summary(await storage.record_outcomes([late])) == (1, [])
    assert await storage.get_subscription(sub.organization_id, sub.id) == disabled
    kept = await reload(storage, in_flight)
    assert (kept.state, kept.attempts, kept.last_status) == ("held", 1, 410)
