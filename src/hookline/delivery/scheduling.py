"""Scheduling: which leased delivery starts when, within the bounds that keep tenants apart.

Every delivery the worker holds waits in its subscription's lane (lanes.py) until it may
start: within the subscription's cap (its own attempts and this process's direct sends to it
together), its rate limit (shared by every worker when several may run: shared_limits.py),
and the room of its lane's pool (pools.py: fast, unproven and slow endpoints each take their
share of the worker's slots, so slow ones never hold the whole worker). Lanes whose pool is
full wait their turn, oldest first. A delivery whose lease would not outlive its attempt is
never started: it is given back.

The scheduler starts nothing itself: ``start`` (attempts.py) does, once it has the slot.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping, Sequence, Sized

from hookline.core.models import ClaimedDelivery, Subscription
from hookline.delivery.lanes import EWMA_WEIGHT, Held, Lane
from hookline.delivery.pools import KINDS, Kind, Pools, classify, lane_cap, sizes
from hookline.delivery.shared_limits import SharedLimits
from hookline.services.clock import Clock
from hookline.storage.roles.deliveries import Deliveries

MAX_IDLE_LANES = 1_000  # idle lanes kept before they are dropped

#: starts one attempt of a lane's delivery, its pool's slot taken already
Start = Callable[[Lane, Held], None]
#: gives leased deliveries back unsent, due now (claiming.py)
GiveBack = Callable[[Sequence[ClaimedDelivery], int], None]


class Scheduler:
    """The worker's lanes and pools. ``in_flight`` is the set of attempts under way (their
    tasks and answers: attempts.py), ``awake`` says whether attempts may start now
    (revocations.py), ``sends`` are this process's direct sends under way by subscription."""

    def __init__(
        self,
        *,
        storage: Deliveries,
        clock: Clock,
        max_in_flight: int,
        per_subscription: int,
        timeout_ms: int,
        lease_ms: int,
        needed_ms: int,
        max_held: int,
        in_flight: Sized,
        awake: Callable[[], bool],
        sends: Mapping[str, int],
    ) -> None:
        self._clock = clock
        self.max_in_flight = max_in_flight
        self._per_sub = per_subscription
        self._needed_ms = needed_ms
        #: a rate-limited lane keeps only what its rate starts well within the lease
        self.horizon_ms = lease_ms // 2
        #: deliveries held at once (under way or waiting in lanes)
        self.max_held = max_held
        self._in_flight = in_flight
        self._awake = awake
        self._sends = sends
        self.lanes: dict[str, Lane] = {}
        #: deliveries waiting in lanes
        self.queued = 0
        #: attempt slots by the kind of endpoint (fast, unproven, slow: see pools.py)
        self.pools = Pools(sizes(max_in_flight, timeout_ms))
        #: by kind, lanes with an attempt that may start but for their pool's room, oldest
        #: first; each starts in turn as attempts end
        self._gated: dict[Kind, deque[Lane]] = {kind: deque() for kind in KINDS}
        #: the running average of attempt durations over all lanes (None before any ended)
        self.pace_ms: float | None = None
        #: lanes the last general claim left out, and set when one of them could take more
        self.left_out: frozenset[str] = frozenset()
        self.lane_freed = asyncio.Event()
        #: set when the worker has room for more deliveries
        self.slot_freed = asyncio.Event()
        #: subscriptions' limits kept in the database when several workers may run
        self.limits = (
            SharedLimits(storage=storage, clock=clock, timeout_ms=timeout_ms, pump=self.pump)
            if storage.several_workers
            else None
        )
        self._start: Start = _unconnected
        self._give_back: GiveBack = _unconnected
        self._refill: Callable[[Lane], None] = _unconnected

    def connect(self, *, start: Start, give_back: GiveBack, refill: Callable[[Lane], None]) -> None:
        """The parts the scheduler hands work to, made after it (see dispatcher.py)."""
        self._start, self._give_back, self._refill = start, give_back, refill

    @property
    def held(self) -> int:
        return len(self._in_flight) + self.queued

    def room(self) -> int:
        """Deliveries the worker may take on now."""
        return min(self.max_held - self.held, self.max_in_flight - len(self._in_flight))

    def freed(self) -> None:
        """Wake the claim loop waiting for room, once there is room: not at every attempt's
        end while a fan-out handed over whole still fills the worker."""
        if self.room() > 0:
            self.slot_freed.set()

    def lane(self, sub: Subscription) -> Lane:
        limit = sub.max_in_flight or self._per_sub
        lane = self.lanes.get(sub.id)
        if lane is None:
            cap = lane_cap("probe", limit, self.pools.sizes)
            lane = self.lanes[sub.id] = Lane(
                subscription=sub, cap=cap, limit=limit, sends=self._sends
            )
        elif lane.limit != limit:
            lane.limit, lane.cap = limit, lane_cap(lane.kind, limit, self.pools.sizes)
        # the newest claim carries the subscription as it is now (cap, rate, URL)
        lane.subscription = sub
        if self.limits is not None:
            self.limits.refresh(lane)
        return lane

    def excluded(self, now_ms: int) -> list[str]:
        """Subscriptions the general claim leaves out: hot lanes (they claim for themselves),
        and lanes that are full or out of rate."""
        if len(self.lanes) > MAX_IDLE_LANES:
            self.lanes = {k: ln for k, ln in self.lanes.items() if not ln.is_idle(now_ms)}
        return [
            sid for sid, ln in self.lanes.items() if not ln.wants_claims(now_ms, self.horizon_ms)
        ]

    def queue(
        self, claimed: Sequence[ClaimedDelivery], lease_until_ms: int, now_ms: int
    ) -> dict[tuple[str, int], list[str]]:
        """Queue claimed deliveries in their lanes and start what may start. Return what a
        lane cannot hold, to be given back (by lease token and when it falls due), marking
        the lane hot: it has more waiting than it may hold."""
        lanes: dict[str, Lane] = {}
        for c in claimed:
            lane = lanes[c.subscription.id] = self.lane(c.subscription)
            lane.queue.append(Held(c, lease_until_ms))
            self.queued += 1
        back: dict[tuple[str, int], list[str]] = {}
        for lane in lanes.values():
            self.pump(lane)
            keep = lane.queue_limit(self.horizon_ms)
            if len(lane.queue) > keep:
                lane.hot = True
                due = max(now_ms, lane.limited_until_ms)
                while len(lane.queue) > keep:
                    c = lane.queue.pop().claimed
                    self.queued -= 1
                    back.setdefault((c.lease_token, due), []).append(c.delivery.id)
        return back

    def pump(self, lane: Lane) -> None:
        """Start the lane's waiting deliveries while its cap and rate allow (and the worker
        hears revocations: see revocations.py)."""
        if not self._awake():
            return
        now = self._clock.now_ms()
        late: list[ClaimedDelivery] = []
        kind = lane.kind
        pools = self.pools
        open_ = pools.room(kind)
        while open_ > 0 and (held := lane.next_startable(now, self._needed_ms)) is not None:
            self.queued -= 1
            if held.lease_until_ms - now < self._needed_ms:
                late.append(held.claimed)
            else:
                pools.take(kind)
                self._start(lane, held)
                open_ -= 1
        if open_ <= 0 and lane.queue and lane.under_way < lane.cap and not lane.gated:
            lane.gated = True
            self._gated[kind].append(lane)
        if late:
            # waited too long: its lease might lapse mid-attempt, and another worker send it
            self._give_back(late, now)
        if lane.queue and lane.limited_until_ms > now and lane.timer is None:
            lane.timer = asyncio.get_running_loop().call_later(
                (lane.limited_until_ms - now) / 1000, self._on_timer, lane
            )
        if (
            lane.hot
            and not lane.refilling
            and len(lane.queue) <= lane.queue_limit(self.horizon_ms) // 2
        ):
            lane.refilling = True
            self._refill(lane)
        if lane.shared is not None and self.limits is not None:
            self.limits.after_pump(lane, self.max_in_flight - len(self._in_flight), now)

    def _on_timer(self, lane: Lane) -> None:
        lane.timer = None
        self.pump(lane)

    def ungate(self) -> None:
        """Start the waiting lanes' attempts, in turn, while their pools allow: fast lanes
        first. A lane whose kind changed while it waited is queued again for its new pool."""
        for kind in KINDS:
            gated = self._gated[kind]
            while gated and self.pools.room(kind) > 0:
                lane = gated.popleft()
                lane.gated = False
                self.pump(lane)

    def ended(self, lane: Lane, kind: Kind, started_ms: int) -> None:
        """An attempt of ``lane`` begun at ``started_ms`` is over: its ``kind``'s slot frees,
        the lane's kind follows how long it took, and the lane starts what waits."""
        now = self._clock.now_ms()
        duration_ms = now - started_ms
        self.pools.give(kind)
        lane.attempt_ended(duration_ms)
        new_kind = classify(lane.average_ms, lane.last_ms, self.pools.sizes.slow_after_ms)
        if new_kind != lane.kind:
            lane.kind, lane.cap = new_kind, lane_cap(new_kind, lane.limit, self.pools.sizes)
        pace = self.pace_ms
        self.pace_ms = duration_ms if pace is None else pace + EWMA_WEIGHT * (duration_ms - pace)
        self.ungate()  # lanes that waited for a slot go first
        self.pump(lane)
        if lane.subscription.id in self.left_out and lane.wants_claims(now, self.horizon_ms):
            self.lane_freed.set()
        self.freed()

    def task_done(self) -> None:
        """An attempt's task has finished (after ``ended``): the worker has room again."""
        self.ungate()
        self.freed()

    def drop(self, sub_id: str) -> None:
        """Forget what waits unsent in the subscription's lane: its storage made those
        deliveries held or cancelled (their leases are void), and such are never sent."""
        lane = self.lanes.get(sub_id)
        if lane is not None and lane.queue:
            self.queued -= len(lane.queue)
            lane.queue.clear()
            lane.hot = False

    def take_back_all(self) -> list[ClaimedDelivery]:
        """Empty every lane's queue, to be given back; nothing waits for its turn after."""
        back: list[ClaimedDelivery] = []
        for lane in self.lanes.values():
            self._stop_timer(lane)
            lane.gated = lane.hot = False
            back += [held.claimed for held in lane.queue]
            lane.queue.clear()
        self._clear()
        return back

    def take_back_for_stop(self) -> dict[str, list[str]]:
        """A stopping worker's queues: delivery ids by lease token, to be given back."""
        waiting: dict[str, list[str]] = {}
        for lane in self.lanes.values():
            self._stop_timer(lane)
            lane.gated = False
            while lane.queue:
                c = lane.queue.popleft().claimed
                waiting.setdefault(c.lease_token, []).append(c.delivery.id)
        self._clear()
        return waiting

    def cool(self) -> None:
        """No lane claims for itself from now (a stopping worker)."""
        for lane in self.lanes.values():
            lane.hot = False

    @staticmethod
    def _stop_timer(lane: Lane) -> None:
        if lane.timer is not None:
            lane.timer.cancel()
            lane.timer = None

    def _clear(self) -> None:
        self.queued = 0
        for gated in self._gated.values():
            gated.clear()


def _unconnected(*args: object) -> None:
    raise RuntimeError("Scheduler.connect() first")
