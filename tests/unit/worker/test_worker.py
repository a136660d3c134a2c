"""The worker whole (dispatcher.py and its parts) on the in-memory storage, with a transport and
a clock of the test's own: deliveries, retries, leases, caps, pools, revocations, stopping,
outcome writes through an outage, the publish handoff."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence

import pytest

from hookline.core.errors import StorageUnavailable, TooManyRequests
from hookline.core.models import Attempt, Subscription
from hookline.delivery.outcomes import MAX_JITTER_MS, WRITE_MARGIN_MS
from hookline.storage.memory import MemoryStorage
from hookline.storage.records import NewDeliveries, OutcomeRecord, Recorded

from .kit import LEASE_MS, STALE, START_MS, Clock, World, until, until_count


@pytest.fixture
async def world() -> World:
    return await World().start()


@contextlib.contextmanager
def direct_send(world: World, sub: Subscription, cap: int) -> Iterator[None]:
    """One direct send (a test send) to ``sub`` under way while the block runs."""
    with world.sends.slot(
        "admins:org", f"subscription:{sub.id}", cap, what="it", subscription_id=sub.id
    ):
        yield


async def test_a_delivery_is_sent_signed_and_its_success_recorded(world: World) -> None:
    sub = await world.subscription()
    [d] = await world.publish(sub)
    async with world.running():
        await until(lambda: len(world.transport.requests) == 1, "the attempt")
        [request] = world.transport.requests
        assert request.url == sub.url
        assert request.headers["webhook-id"] == d.event_id
        assert request.headers["webhook-signature"].startswith("v1,")
        request.reply(204)
        await until(world.in_state([d], "succeeded"), "the success recorded")
    stored = await world.stored(d)
    assert (stored.attempts, stored.last_status) == (1, 204)


@pytest.mark.parametrize("at_once", [False, True], ids=["task", "at-once"])
async def test_a_failure_is_retried_on_the_schedule_as_the_clock_moves(at_once: bool) -> None:
    world = await World(at_once=at_once).start()
    sub = await world.subscription()
    [d] = await world.publish(sub)
    async with world.running():
        await until(lambda: len(world.transport.requests) == 1, "the first attempt")
        world.transport.requests[0].reply(503)
        await until(world.in_state([d], "pending"), "the retry scheduled")
        retry = await world.stored(d)
        # the schedule's second step (30 s after the first try), jittered later, never earlier
        assert retry.next_attempt_at_ms is not None
        assert 30_000 <= retry.next_attempt_at_ms - START_MS < 31_000
        assert (retry.attempts, retry.last_status) == (1, 503)

        world.clock.advance(retry.next_attempt_at_ms - world.clock.now)
        await until(lambda: len(world.transport.requests) == 2, "the second attempt")
        second = world.transport.requests[1]
        assert second.headers["webhook-id"] == d.event_id  # the same event, sent again
        second.reply(200)
        await until(world.in_state([d], "succeeded"), "the success recorded")
    assert (await world.stored(d)).attempts == 2


async def test_an_idle_connection_found_closed_sends_the_attempt_again() -> None:
    world = await World(at_once=True).start()
    sub = await world.subscription()
    [d] = await world.publish(sub)
    async with world.running():
        await until(lambda: len(world.transport.requests) == 1, "the attempt written at once")
        world.transport.requests[0].answer.set_result(STALE)  # nothing went out
        await until(lambda: len(world.transport.requests) == 2, "the attempt sent again")
        world.transport.requests[1].reply(200)
        await until(world.in_state([d], "succeeded"), "the success recorded")
    assert (await world.stored(d)).attempts == 1  # one attempt, on a second connection


async def test_a_dead_workers_lease_expires_and_its_delivery_is_sent(world: World) -> None:
    sub, other = await world.subscription(), await world.subscription()
    [d] = await world.publish(sub)
    # a worker leased it, and died
    [lost] = await world.storage.claim_due(world.clock.now, 10, LEASE_MS)
    async with world.running():
        await world.publish(other)
        await until(lambda: len(world.transport.to(other)) == 1, "a later delivery sent")
        world.transport.to(other)[0].reply(200)
        assert world.transport.to(sub) == []  # its lease still holds

        world.clock.advance(LEASE_MS)
        await until(lambda: len(world.transport.to(sub)) == 1, "the delivery sent again")
        world.transport.to(sub)[0].reply(200)
        await until(world.in_state([d], "succeeded"), "its success recorded")
    # the dead worker's outcome, come late, is logged but changes nothing
    logged = await world.logged()
    recorded = await world.storage.record_outcomes([_outcome_of(lost.lease_token, d.id, world)])
    assert recorded.changed == 0
    assert await world.logged() == logged + 1


def _outcome_of(token: str, delivery_id: str, world: World) -> OutcomeRecord:
    attempt = Attempt(
        id="att-late",
        organization_id="org_0000000000000001",
        delivery_id=delivery_id,
        subscription_id=None,
        phone_number_id=None,
        event_id="evt_late",
        event_type="message.received",
        url="https://late.example.com",
        request_payload="{}",
        response_status=200,
        response_body=None,
        error_detail=None,
        duration_ms=1,
        is_replay=False,
        created_at_ms=world.clock.now,
    )
    return OutcomeRecord(
        delivery_id=delivery_id,
        lease_token=token,
        attempt=attempt,
        state="succeeded",
        next_attempt_at_ms=None,
        first_attempt_at_ms=world.clock.now,
    )


async def test_a_subscriptions_attempts_never_exceed_its_cap(world: World) -> None:
    sub = await world.subscription(max_in_flight=3)
    ds = await world.publish(sub, 10)
    async with world.running(max_in_flight_per_subscription=8):
        # nothing is known of the endpoint yet: two attempts probe it
        await until(lambda: len(world.transport.waiting(sub)) == 2, "the probing attempts")
        for _ in range(10):
            await until(lambda: bool(world.transport.waiting(sub)), "an attempt under way")
            world.transport.waiting(sub)[0].reply(200)  # at once: the endpoint is fast
        await until(world.in_state(ds, *["succeeded"] * 10), "every success recorded")
    assert world.transport.most[sub.url] == 3


async def test_direct_sends_and_the_workers_attempts_share_the_cap(world: World) -> None:
    sub, other = await world.subscription(max_in_flight=2), await world.subscription()
    with direct_send(world, sub, 2):
        await world.publish(sub, 3)
        async with world.running():
            await until(lambda: len(world.transport.waiting(sub)) == 1, "one attempt")
            await world.publish(other)
            await until(lambda: len(world.transport.to(other)) == 1, "a later delivery sent")
            assert len(world.transport.waiting(sub)) == 1  # the send holds the other place
            with pytest.raises(TooManyRequests), direct_send(world, sub, 2):
                pass  # and the cap is full for a second send
            world.transport.waiting(sub)[0].reply(200)
            await until(lambda: len(world.transport.to(sub)) == 2, "the next attempt")
            assert len(world.transport.waiting(sub)) == 1


async def test_a_direct_send_ending_lets_the_worker_start_one_more(world: World) -> None:
    sub = await world.subscription(max_in_flight=2)
    with contextlib.ExitStack() as sends:
        sends.enter_context(direct_send(world, sub, 2))
        await world.publish(sub, 2)
        async with world.running():
            await until(lambda: len(world.transport.waiting(sub)) == 1, "one attempt")
            sends.close()  # the send ends: its place goes to the worker at once
            await until(lambda: len(world.transport.waiting(sub)) == 2, "the second attempt")


async def test_slow_endpoints_hold_a_bounded_pool_and_healthy_ones_flow(world: World) -> None:
    """A worker of 8 slots: endpoints that never answer take at most the slow pool (2) once
    known to be slow; a healthy subscription's deliveries go on meanwhile."""
    dead = [await world.subscription() for _ in range(3)]
    healthy = await world.subscription()
    for sub in dead:
        await world.publish(sub, 4)
    async with world.running(max_in_flight=8):
        await until(lambda: len(world.transport.waiting()) == 4, "the probe pool's attempts")
        # they time out (ten seconds on the clock), and the endpoints count as slow: the
        # first two, then the third, which waited for the probe pool meanwhile
        for still_probing in (2, 0):
            world.clock.advance(10_000)
            for request in world.transport.waiting():
                request.fail("timed out after 10 s")
            await until_count(world.transport.waiting, 2 + still_probing, "the slow pool's")

        ds = await world.publish(healthy, 5)
        for _ in range(5):
            await until(lambda: bool(world.transport.waiting(healthy)), "a healthy attempt")
            world.transport.waiting(healthy)[0].reply(200)
            assert len(dead_waiting(world, healthy)) == 2  # the slow pool, no more
        await until(world.in_state(ds, *["succeeded"] * 5), "every healthy success")
        assert len(dead_waiting(world, healthy)) == 2


def dead_waiting(world: World, healthy: Subscription) -> list[object]:
    return [r for r in world.transport.waiting() if r.url != healthy.url]


async def test_disabling_stops_new_starts_and_the_attempt_under_way_is_recorded(
    world: World,
) -> None:
    sub, other = await world.subscription(max_in_flight=1), await world.subscription()
    ds = await world.publish(sub, 3)
    async with world.running() as worker:
        await until(lambda: len(world.transport.waiting(sub)) == 1, "the first attempt")
        # what SubscriptionService does: the storage holds its deliveries, the worker hears
        await world.storage.update_subscription(
            sub.organization_id, sub.id, {"enabled": False}, world.clock.now
        )
        worker.revoke(sub.id)
        world.transport.waiting(sub)[0].reply(200)
        await until(world.in_state(ds, "succeeded", "held", "held"), "the outcome recorded")
        await world.publish(other)
        await until(lambda: len(world.transport.to(other)) == 1, "a later delivery sent")
    assert len(world.transport.to(sub)) == 1


async def test_stopping_gives_back_what_waits_and_lets_the_attempt_finish(world: World) -> None:
    sub = await world.subscription(max_in_flight=1)
    ds = await world.publish(sub, 3)
    worker = world.worker()
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await until(lambda: len(world.transport.waiting(sub)) == 1, "the first attempt")
    stop.set()
    await until(lambda: worker.handoff.stopping, "the worker stopping")
    world.transport.waiting(sub)[0].reply(200)
    await asyncio.wait_for(task, 5)
    assert len(world.transport.requests) == 1
    assert await world.states(ds) == ["succeeded", "pending", "pending"]
    for d in ds[1:]:
        assert (await world.stored(d)).next_attempt_at_ms == world.clock.now  # due at once


class FlakyStorage(MemoryStorage):
    """Its outcome writes fail while ``down``, or for the next ``failing`` tries; each try
    is counted, with the time on the worker's clock."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.down = False
        self.failing = 0
        self.tries_at: list[int] = []

    async def record_outcomes(
        self, outcomes: Sequence[OutcomeRecord], disable_after_ms: int | None = None
    ) -> Recorded:
        self.tries_at.append(self.clock.now)
        if self.down or self.failing > 0:
            self.failing -= 1
            raise StorageUnavailable("connection refused")
        return await super().record_outcomes(outcomes, disable_after_ms)


async def test_an_outcome_write_is_retried_through_an_outage() -> None:
    clock = Clock()
    storage = FlakyStorage(clock)
    world = await World(storage=storage, clock=clock).start()
    sub = await world.subscription()
    [d] = await world.publish(sub)
    storage.failing = 3
    async with world.running():
        await until(lambda: len(world.transport.requests) == 1, "the attempt")
        world.transport.requests[0].reply(200)
        await until(world.in_state([d], "succeeded"), "the outcome written once back")
    # tried again after waits doubling from RETRY_WAIT_S, on the worker's clock
    first = storage.tries_at[0]
    waits = [at - first for at in storage.tries_at[1:]]
    assert waits == [100, 300, 700]


async def test_an_outcome_past_its_lease_is_still_logged_once_the_database_is_back() -> None:
    clock = Clock()
    storage = FlakyStorage(clock)
    world = await World(storage=storage, clock=clock).start()
    sub = await world.subscription()
    [d] = await world.publish(sub)
    storage.down = True
    async with world.running():
        await until(lambda: len(world.transport.requests) == 1, "the attempt")
        world.transport.requests[0].reply(200)
        # the writer's waits move the clock: it tries until the lease is nearly out
        await until(lambda: world.clock.now >= START_MS + LEASE_MS - WRITE_MARGIN_MS, "the lease")
        storage.down = False

        async def logged() -> bool:
            return await world.logged() == 1

        await until(logged, "the attempt logged")
    stored = await world.stored(d)
    assert (stored.state, stored.attempts) == ("succeeded", 1)


async def test_a_publish_handed_over_is_sent_without_a_claim(world: World) -> None:
    sub = await world.subscription()
    # a poll of a minute: nothing but the handoff brings the delivery to the worker
    async with world.running(poll_interval_s=60) as worker:
        lease = worker.handoff.lease({sub.id: (sub, 1)}, world.clock.now)
        assert lease is not None and lease.subscription_ids == {sub.id}
        item = world.event(sub)
        [published] = await world.storage.insert_events_with_deliveries(
            [NewDeliveries(event=item.event, deliveries=item.deliveries, lease=lease)]
        )
        await worker.handoff.take(lease, published.leased)
        await until(lambda: len(world.transport.requests) == 1, "the attempt")
        world.transport.requests[0].reply(200)
        await until(world.in_state(item.deliveries, "succeeded"), "its success recorded")


async def test_a_retry_due_at_once_is_sent_again_without_waiting_for_the_poll(
    world: World,
) -> None:
    """A retry due at once is due no later than the claim that leased its delivery, and the
    claim loop's wait asks only for what falls due after its latest claim (a full lane's
    backlog is not stepped over each time): the outcome's write wakes the loop instead."""
    sub = await world.subscription(retry_schedule=(0, 0))
    [d] = await world.publish(sub)
    async with world.running(poll_interval_s=60):
        await until_count(world.transport.waiting, 1, "the first attempt")
        world.clock.advance(MAX_JITTER_MS)  # the retry's jitter: it is due when it is written
        world.transport.waiting()[0].reply(500)
        await until_count(world.transport.waiting, 1, "the retry")
        world.transport.waiting()[0].reply(200)
        await until(world.in_state([d], "succeeded"), "its success recorded")
    assert len(world.transport.to(sub)) == 2


class SharedStorage(MemoryStorage):
    """As PostgreSQL is to its workers: several may run, and share subscriptions' limits."""

    several_workers = True


async def test_two_workers_share_a_subscriptions_cap() -> None:
    world = await World(storage=SharedStorage()).start()
    sub = await world.subscription(max_in_flight=2)
    ds = await world.publish(sub, 12)

    def under_way() -> bool:
        if world.transport.waiting(sub):
            return True
        # time passes: a worker whose lane ran dry gives its spare slots back at its renewal
        world.clock.advance(100)
        return False

    async with world.running(), world.running():
        for _ in range(12):
            await until(under_way, "an attempt under way")
            world.transport.waiting(sub)[0].reply(200)
        await until(world.in_state(ds, *["succeeded"] * 12), "every success recorded")
    assert world.transport.most[sub.url] == 2


async def test_a_subscription_failing_past_the_bound_is_disabled_on_the_clock(
    world: World,
) -> None:
    """Auto-disable: failures alone disable nothing until the subscription has been failing,
    with no success since, for ``disable_after_s``; then it is disabled and what it had
    undelivered is held, not sent."""
    sub = await world.subscription(retry_schedule=(0, 30, 120))
    first, second = await world.publish(sub, 2)
    async with world.running(disable_after_s=3600):
        await until_count(world.transport.waiting, 2, "both first attempts")
        for request in world.transport.waiting():
            request.reply(500)
        await until(world.in_state([first, second], "pending", "pending"), "both retries due")
        stored = await world.storage.get_subscription(sub.organization_id, sub.id)
        assert stored is not None and stored.enabled, "failing for no time yet: still enabled"

        world.clock.advance(3600 * 1000)  # an hour of failures; both retries due long since
        await until_count(world.transport.waiting, 2, "both retries under way")
        for request in world.transport.waiting():
            request.reply(500)

        async def disabled() -> bool:
            now = await world.storage.get_subscription(sub.organization_id, sub.id)
            return now is not None and not now.enabled

        await until(disabled, "the subscription disabled")
        # their third tries were due next: held instead, and nothing more is sent
        await until(world.in_state([first, second], "held", "held"), "both held")
    assert len(world.transport.to(sub)) == 4
