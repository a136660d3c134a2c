"""The scheduler alone (scheduling.py): caps, direct sends, pools, rates, leases too short to
start, lanes too full to hold, revocations. Its starts and give-backs are recorded, not run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hookline.core import ids
from hookline.core.models import ClaimedDelivery, Delivery, Event, Subscription
from hookline.delivery.lanes import Held, Lane
from hookline.delivery.pools import Kind
from hookline.delivery.scheduling import Scheduler
from hookline.storage.memory import MemoryStorage

from .kit import LEASE_MS, ORG_ID, START_MS, Clock

TIMEOUT_MS = 10_000
NEEDED_MS = TIMEOUT_MS + 5_000


class Bench:
    """A scheduler of ``max_in_flight`` slots whose starts are noted as attempts under way
    (ended by ``end``) and whose give-backs and refills are noted too."""

    def __init__(self, max_in_flight: int = 8, sends: dict[str, int] | None = None) -> None:
        self.clock = Clock()
        self.in_flight: set[int] = set()  # ids of the Held under way
        #: each start: its lane, its delivery, its pool and when
        self.started: list[tuple[Lane, Held, Kind, int]] = []
        self.given_back: list[ClaimedDelivery] = []
        self.refills: list[Lane] = []
        self.scheduler = Scheduler(
            storage=MemoryStorage(),
            clock=self.clock,
            max_in_flight=max_in_flight,
            per_subscription=4,
            timeout_ms=TIMEOUT_MS,
            lease_ms=LEASE_MS,
            needed_ms=NEEDED_MS,
            max_held=max_in_flight + 400,
            in_flight=self.in_flight,
            awake=lambda: True,
            sends={} if sends is None else sends,
        )
        self.scheduler.connect(
            start=self._start, give_back=self._give_back, refill=self.refills.append
        )

    def _start(self, lane: Lane, held: Held) -> None:
        self.started.append((lane, held, lane.kind, self.clock.now))
        self.in_flight.add(id(held))

    def _give_back(self, claimed: Sequence[ClaimedDelivery], now_ms: int) -> None:
        self.given_back += claimed

    def queue(self, sub: Subscription, n: int, *, lease_ms: int = LEASE_MS) -> dict[Any, list[str]]:
        now = self.clock.now
        return self.scheduler.queue([claimed(sub) for _ in range(n)], now + lease_ms, now)

    def under_way(self, sub: Subscription) -> list[Held]:
        return [s[1] for s in self._under_way(sub)]

    def _under_way(self, sub: Subscription) -> list[tuple[Lane, Held, Kind, int]]:
        return [
            s for s in self.started if s[0].subscription.id == sub.id and id(s[1]) in self.in_flight
        ]

    def end(self, sub: Subscription, *, took_ms: int = 0) -> None:
        """The oldest attempt of ``sub`` under way ends, having taken ``took_ms``."""
        lane, held, kind, started_ms = self._under_way(sub)[0]
        self.clock.advance(took_ms)
        self.in_flight.discard(id(held))
        self.scheduler.ended(lane, kind, started_ms)


def subscription(**fields: Any) -> Subscription:
    return Subscription(
        id=ids.new_uuid(),
        organization_id=ORG_ID,
        url=f"https://{ids.new_uuid()}.example.com",
        event_types=("message.received",),
        **fields,
    )


def claimed(sub: Subscription) -> ClaimedDelivery:
    event = Event(
        id=ids.new_event_id(),
        organization_id=ORG_ID,
        type="message.received",
        data={},
        occurred_at_ms=START_MS,
        created_at_ms=START_MS,
    )
    delivery = Delivery(
        id=ids.new_uuid(), organization_id=ORG_ID, event_id=event.id, subscription_id=sub.id,
        state="delivering", attempts=0, next_attempt_at_ms=START_MS + LEASE_MS,
        first_attempt_at_ms=None, last_attempt_at_ms=None, last_status=None, last_error=None,
        created_at_ms=START_MS, updated_at_ms=START_MS,
    )  # fmt: skip
    return ClaimedDelivery(delivery=delivery, event=event, subscription=sub, lease_token="t")


async def test_an_unknown_endpoint_is_probed_then_gets_its_cap() -> None:
    bench = Bench()
    sub = subscription(max_in_flight=3)
    bench.queue(sub, 6)
    lane = bench.scheduler.lanes[sub.id]
    assert len(bench.under_way(sub)) == 2  # probing: nothing known of the endpoint yet
    bench.end(sub, took_ms=20)
    assert lane.kind == "fast"
    assert len(bench.under_way(sub)) == 3  # its cap
    # it had more than it could hold (given back): it claims for itself what it can now
    assert bench.refills == [lane]
    bench.queue(sub, 5)
    assert len(bench.under_way(sub)) == 3  # and no more
    bench.end(sub)
    assert len(bench.under_way(sub)) == 3


async def test_no_subscription_may_exceed_the_workers_own_cap() -> None:
    bench = Bench(max_in_flight=4)
    sub = subscription(max_in_flight=1000)
    bench.queue(sub, 1)
    bench.end(sub)
    bench.queue(sub, 10)
    assert bench.scheduler.lanes[sub.id].cap == 4
    assert len(bench.under_way(sub)) == 4


async def test_direct_sends_count_against_the_cap() -> None:
    sends: dict[str, int] = {}
    bench = Bench(sends=sends)
    sub = subscription(max_in_flight=2)
    sends[sub.id] = 1  # a test send to it is under way
    bench.queue(sub, 3)
    assert len(bench.under_way(sub)) == 1
    del sends[sub.id]  # it ended: the worker is told (Dispatcher.send_ended), and pumps
    bench.scheduler.pump(bench.scheduler.lanes[sub.id])
    assert len(bench.under_way(sub)) == 2


async def test_slow_endpoints_share_a_bounded_pool_and_leave_the_fast_ones_room() -> None:
    """8 slots: the slow pool is 2, one per slow lane; the unproven pool 4."""
    bench = Bench(max_in_flight=8)
    slow = [subscription() for _ in range(3)]
    for sub in slow:
        bench.queue(sub, 1)
    assert sum(len(bench.under_way(s)) for s in slow) == 3  # unproven: the probe pool
    for sub in slow:
        bench.end(sub, took_ms=TIMEOUT_MS)  # timed out
        assert bench.scheduler.lanes[sub.id].kind == "slow"
    for sub in slow:
        bench.queue(sub, 4)
    assert [len(bench.under_way(s)) for s in slow] == [1, 1, 0]  # the slow pool is full
    fast = subscription()
    bench.queue(fast, 1)
    bench.end(fast)
    bench.queue(fast, 10)
    assert len(bench.under_way(fast)) == 4  # its own cap: the slow ones hold only theirs
    # a slow attempt's end lets the slow lane that waited longest go next
    bench.end(slow[0], took_ms=TIMEOUT_MS)
    assert [len(bench.under_way(s)) for s in slow] == [0, 1, 1]


async def test_a_delivery_whose_lease_would_lapse_mid_attempt_is_given_back_unsent() -> None:
    bench = Bench()
    sub = subscription()
    bench.queue(sub, 1, lease_ms=NEEDED_MS - 1)
    assert bench.started == []
    assert [c.subscription.id for c in bench.given_back] == [sub.id]
    assert bench.scheduler.queued == 0


async def test_a_rate_limited_lane_starts_on_the_clock() -> None:
    bench = Bench()
    sub = subscription(rate_limit_per_second=1.0)
    bench.queue(sub, 3)
    lane = bench.scheduler.lanes[sub.id]
    assert len(bench.started) == 1  # the burst of one second's worth: one
    assert lane.limited_until_ms == bench.clock.now + 1000
    assert lane.timer is not None  # it wakes itself then
    assert sub.id in bench.scheduler.excluded(bench.clock.now)  # claims leave it out meanwhile
    bench.clock.advance(1000)
    lane.timer.cancel()
    lane.timer = None
    bench.scheduler.pump(lane)
    assert len(bench.started) == 2


async def test_a_lane_keeps_what_it_may_hold_and_the_rest_goes_back() -> None:
    bench = Bench()
    sub = subscription()  # unknown: a single wave (its cap) may wait, beside what probes
    back = bench.queue(sub, 10)
    lane = bench.scheduler.lanes[sub.id]
    assert len(bench.under_way(sub)) == 2 and len(lane.queue) == 2
    assert lane.hot  # it claims for itself from now
    assert [len(ids_) for ids_ in back.values()] == [6]
    assert sub.id in bench.scheduler.excluded(bench.clock.now)


async def test_a_revoked_subscriptions_queue_is_dropped() -> None:
    bench = Bench()
    sub = subscription(max_in_flight=1)
    bench.queue(sub, 3)
    bench.scheduler.drop(sub.id)
    assert bench.scheduler.queued == 0
    bench.end(sub)
    assert len(bench.started) == 1  # nothing more starts


async def test_taken_back_for_a_stop_by_lease() -> None:
    bench = Bench()
    sub = subscription(max_in_flight=1)
    bench.queue(sub, 2)
    queued = [held.claimed for held in bench.scheduler.lanes[sub.id].queue]
    waiting = bench.scheduler.take_back_for_stop()
    assert waiting == {"t": [c.delivery.id for c in queued]}
    assert bench.scheduler.queued == 0
