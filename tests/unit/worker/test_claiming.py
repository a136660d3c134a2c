"""Claiming (claiming.py) and revocations (revocations.py) on the in-memory storage, with the
scheduler's starts noted rather than run: what a claim leases, what it leaves out, what it gives
back, and what a revocation or a stall voids."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hookline.core.models import Subscription
from hookline.delivery.claiming import Claimer
from hookline.delivery.lanes import Held, Lane
from hookline.delivery.revocations import STALL_S, Revocations
from hookline.delivery.scheduling import Scheduler
from hookline.metrics import Metrics

from .kit import LEASE_MS, World, until

NEEDED_MS = 15_000


class Intake:
    """A claimer with its scheduler on ``world``'s storage: starts are noted (and never end)."""

    def __init__(self, world: World, *, max_in_flight: int = 8) -> None:
        self.world = world
        self.started: list[Held] = []
        self.given_back: list[str] = []
        self.stalled: list[str] = []
        self.revocations = Revocations(self._give_back_all, monotonic=world.clock.monotonic)
        self.scheduler = Scheduler(
            storage=world.storage,
            clock=world.clock,
            max_in_flight=max_in_flight,
            per_subscription=4,
            timeout_ms=10_000,
            lease_ms=LEASE_MS,
            needed_ms=NEEDED_MS,
            max_held=max_in_flight + 400,
            in_flight=self.started,
            awake=self.revocations.check_awake,
            sends={},
        )
        self.claimer = Claimer(
            storage=world.storage,
            clock=world.clock,
            scheduler=self.scheduler,
            revocations=self.revocations,
            metrics=Metrics(),
            lease_ms=LEASE_MS,
            poll_interval_s=0.01,
        )
        self.scheduler.connect(
            start=self._start, give_back=self._give_back, refill=self.claimer.refill
        )

    def _start(self, lane: Lane, held: Held) -> None:
        self.started.append(held)

    def _give_back(self, claimed: Any, now_ms: int) -> None:
        self.given_back += [c.delivery.id for c in claimed]
        self.claimer.give_back(claimed, now_ms)

    def _give_back_all(self, why: str) -> None:
        self.stalled.append(why)
        self.revocations.all_given_back()
        back = self.scheduler.take_back_all()
        if back:
            self._give_back(back, self.world.clock.now)

    def started_of(self, sub: Subscription) -> list[str]:
        return [h.claimed.delivery.id for h in self.started if h.claimed.subscription.id == sub.id]


@pytest.fixture
async def world() -> World:
    return await World().start()


async def test_a_claim_leases_what_is_due_and_its_lanes_start_it(world: World) -> None:
    sub = await world.subscription(max_in_flight=2)
    ds = await world.publish(sub, 2)
    intake = Intake(world)
    assert await intake.claimer.claim(10) == 2
    assert intake.started_of(sub) == [d.id for d in ds]
    assert await world.states(ds) == ["delivering", "delivering"]
    leased = await world.stored(ds[0])
    assert leased.next_attempt_at_ms == world.clock.now + LEASE_MS


async def test_a_full_lane_is_left_out_of_the_next_claim(world: World) -> None:
    sub, other = await world.subscription(max_in_flight=1), await world.subscription()
    await world.publish(sub, 2)  # one starts, one waits: the lane is full
    intake = Intake(world)
    await intake.claimer.claim(10)
    later = await world.publish(sub) + await world.publish(other)
    assert await intake.claimer.claim(10) == 1
    assert intake.scheduler.left_out == {sub.id}
    assert await world.states(later) == ["pending", "delivering"]


async def test_a_claim_soon_after_one_that_took_all_it_might_starts_after_it(
    world: World,
) -> None:
    """While a lane is left out (its backlog piles up due), a claim soon after one that took
    all it might asks only for what fell due after that one, less a margin: a row written
    since with an older due time waits for the next claim of every due row, which runs at
    least once a poll interval (here 10 ms)."""
    full, other = await world.subscription(max_in_flight=1), await world.subscription()
    await world.publish(full, 2)  # one starts, one waits: the lane is full
    intake = Intake(world)
    await intake.claimer.claim(10)
    world.clock.advance(-5_000)
    [late] = await world.publish(other)  # written now, due five seconds ago
    world.clock.advance(5_000)
    assert await intake.claimer.claim(10) == 0
    assert intake.scheduler.left_out == {full.id}
    world.clock.advance(10)  # a poll interval
    assert await intake.claimer.claim(10) == 1
    assert intake.started_of(other) == [late.id]


async def test_while_lanes_are_left_out_the_wait_ends_by_the_next_claim_of_every_due_row(
    world: World,
) -> None:
    """A claim that asks only for what fell due lately is followed, within a poll interval
    (here 10 ms) of the latest claim of every due row, by another such claim: the loop's
    wait ends by then even with nothing due."""
    full = await world.subscription(max_in_flight=1)
    await world.publish(full, 2)  # one starts, one waits: the lane is full
    intake = Intake(world)
    await intake.claimer.claim(10)  # every due row
    world.clock.advance(4)
    await intake.claimer.claim(10)  # only what fell due lately
    left_out = intake.scheduler.left_out
    assert left_out == {full.id}
    assert await intake.claimer._idle_wait_s(left_out) == pytest.approx(0.006)


async def test_what_a_lane_cannot_hold_goes_back_and_the_lane_claims_for_itself(
    world: World,
) -> None:
    sub = await world.subscription()
    ds = await world.publish(sub, 10)
    intake = Intake(world)
    await intake.claimer.claim(10)
    # probing, two start and two wait (the lane's cap); the rest is due again at once,
    # for the lane's own claim once it has room
    states = await world.states(ds)
    assert states.count("delivering") == 4 and states.count("pending") == 6
    lane = intake.scheduler.lanes[sub.id]
    assert lane.hot
    assert sub.id in intake.scheduler.excluded(world.clock.now)


async def test_deliveries_of_a_subscription_revoked_during_the_claim_are_not_queued(
    world: World,
) -> None:
    sub, other = await world.subscription(), await world.subscription()
    await world.publish(sub)
    await world.publish(other)
    intake = Intake(world)
    since = intake.revocations.count
    claimed = await world.storage.claim_due(world.clock.now, 10, LEASE_MS)
    intake.revocations.revoke(sub.id)  # heard while the claim was under way
    await intake.claimer.accept(claimed, world.clock.now, since)
    assert intake.started_of(sub) == []
    assert len(intake.started_of(other)) == 1


async def test_a_claim_begun_before_everything_was_given_back_goes_back_whole(
    world: World,
) -> None:
    sub = await world.subscription()
    ds = await world.publish(sub, 2)
    intake = Intake(world)
    since = intake.revocations.count
    claimed = await world.storage.claim_due(world.clock.now, 10, LEASE_MS)
    intake.revocations.heard(False)
    intake.revocations.heard(True)  # it may have missed a revocation meanwhile
    await intake.claimer.accept(claimed, world.clock.now, since)
    assert intake.started == []
    await until(world.in_state(ds, "pending", "pending"), "both given back")


async def test_nothing_starts_while_revocations_cannot_be_heard(world: World) -> None:
    sub = await world.subscription()
    await world.publish(sub)
    intake = Intake(world)
    intake.revocations.heard(False)
    await intake.claimer.claim(10)
    assert intake.started == []
    intake.revocations.heard(True)
    assert intake.stalled == ["held while revocations could not be heard"]


async def test_a_worker_that_stood_still_gives_back_what_it_holds(world: World) -> None:
    sub = await world.subscription(max_in_flight=1)
    ds = await world.publish(sub, 2)
    intake = Intake(world)
    await intake.claimer.claim(10)
    assert len(intake.started) == 1
    world.clock.stand_still(STALL_S + 1)  # a SIGSTOP, a starved machine
    assert intake.revocations.check_awake()
    assert intake.stalled and "stood still" in intake.stalled[0]
    assert intake.scheduler.queued == 0
    await until(world.in_state(ds[1:], "pending"), "the waiting one given back")


async def test_a_hot_lanes_own_claim_takes_only_its_subscription(world: World) -> None:
    sub, other = await world.subscription(), await world.subscription()
    ds = await world.publish(sub, 10)
    intake = Intake(world)
    await intake.claimer.claim(10)
    lane = intake.scheduler.lanes[sub.id]
    assert lane.hot
    theirs = await world.publish(other, 3)
    # an attempt ends quickly: the lane is fast, starts what waits, and refills itself
    intake.started.pop()
    intake.scheduler.ended(lane, "probe", world.clock.now)
    assert lane.refilling
    await until(lambda: not lane.refilling, "the lane's own claim")
    assert await world.states(ds) == ["delivering"] * 10
    assert await world.states(theirs) == ["pending"] * 3
    assert len(intake.started_of(sub)) == 4  # under way: its cap, now that it is fast


async def test_give_back_wakes_the_claim_loop(world: World) -> None:
    sub = await world.subscription()
    [d] = await world.publish(sub)
    intake = Intake(world)
    [c] = await world.storage.claim_due(world.clock.now, 1, LEASE_MS)
    intake.claimer.wakeup.clear()
    intake.claimer.give_back([c], world.clock.now)
    await asyncio.wait_for(intake.claimer.wakeup.wait(), 5)
    assert await world.states([d]) == ["pending"]
