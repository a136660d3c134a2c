"""A worker's side of the limits every worker shares (storage/limits_sql.py).

With several worker processes on one database, each lane (lanes.py) bounding its own attempts
would let a subscription take its ``max_in_flight`` and its ``rate_limit_per_second`` once per
worker. A subscription that sets either therefore starts attempts only within what the
database grants this worker:

- A cap alone: the worker holds *slots* of the cap, asked for when its lane has more to start
  than it holds, and keeps them from one attempt to the next. Once a second it renews its
  hold and gives back the slots its lane did not need then (a lane that ran dry for a moment
  between two claims keeps them till then). A busy lane thus costs a request when it grows
  and one a second, not one per attempt; a slot another worker waits for comes free within
  about a second of its holder's lane running dry.
- A rate (with or without a cap): every start needs a *permit* of the shared limiter. The lane
  asks for as many as it could start now, starts them at once and gives back the slots of
  those it could not start; an attempt's slot goes back with the lane's next request, which
  follows the attempt's end at once. A permit is used the moment it is given or not at all:
  an attempt that started later than its permit would crowd the next second's.

A hold lasts one attempt timeout and a margin past the request that took or renewed it, and
the worker starts an attempt on it only while the attempt would end before that: a worker
that dies, or cannot reach the database, gives its slots back that much later.

Only subscriptions with explicit limits pay these requests: the server-wide default cap
(``HOOKLINE_MAX_IN_FLIGHT_PER_SUBSCRIPTION``) stays each worker's own, as does everything on
SQLite, where one process works the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hookline.core import ids
from hookline.core.errors import StorageUnavailable
from hookline.core.models import Subscription
from hookline.services.clock import Clock
from hookline.storage.records import HOLD_MARGIN_MS, LimitGrant
from hookline.storage.roles.deliveries import Deliveries

if TYPE_CHECKING:
    from hookline.delivery.lanes import Lane

log = logging.getLogger("hookline.worker")

#: how long a lane waits before asking again when other workers' attempts fill the cap, as
#: a share of its attempts' average duration (a slot frees about that often), within bounds
FULL_WAIT_MIN_MS = 10
FULL_WAIT_MAX_MS = 500
FULL_WAIT_UNKNOWN_MS = 50  # before any attempt of the lane has ended
ERROR_WAIT_MS = 1000  # after a request that failed (an outage: the claims wait it out too)
#: how often a lane keeping its slots renews its hold: well within HOLD_MARGIN_MS, so that a
#: late renewal or two never stops its attempts
RENEW_MS = 1_000


@dataclass(eq=False, slots=True)
class Shared:
    """A lane's part of its subscription's shared limits."""

    #: the subscription has a cap: slots are held and given back
    capped: bool = False
    #: a cap alone: slots are kept from one attempt to the next (see the module's docstring)
    keeps_slots: bool = False
    #: keeps_slots: the slots this worker holds (under way or free), as the database said
    slots: int = 0
    #: keeps_slots: until when an attempt may start on them, and when to renew them
    start_until_ms: int = 0
    renew_at_ms: int = 0
    #: keeps_slots: wakes the lane at renew_at_ms when nothing else would (it ran dry)
    timer: asyncio.TimerHandle | None = None
    #: with a rate: attempts the database lets start now, not yet started (used at once)
    permits: int = 0
    #: slots to give back with the next request
    released: int = 0
    #: a request to the database is under way (one at a time per lane)
    asking: bool = False
    #: after a request failed: none before this time
    retry_at_ms: int = 0

    def may_start(self, busy: int, now_ms: int) -> bool:
        """Whether one more attempt may start now (taking a permit if it needs one)."""
        if self.keeps_slots:
            return busy < self.slots and now_ms < self.start_until_ms
        if self.permits <= 0:
            return False
        self.permits -= 1
        return True

    def attempt_ended(self) -> None:
        if self.capped and not self.keeps_slots:
            self.released += 1

    def is_idle(self) -> bool:
        return not (self.slots or self.permits or self.released or self.asking or self.timer)


def applies(sub: Subscription) -> bool:
    """Whether a subscription has limits to share: explicit ones only."""
    return sub.max_in_flight is not None or sub.rate_limit_per_second is not None


class SharedLimits:
    """Asks the database for slots and permits on behalf of the worker's lanes.

    ``pump`` is the dispatcher's: it starts what a lane may start, and so uses what was just
    granted.
    """

    def __init__(
        self,
        *,
        storage: Deliveries,
        clock: Clock,
        timeout_ms: int,
        pump: Callable[[Lane], None],
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._pump = pump
        self._hold_ms = timeout_ms + HOLD_MARGIN_MS
        #: this worker, as the database knows its slots
        self.holder = ids.new_uuid()
        self._asks: set[asyncio.Task[None]] = set()

    def refresh(self, lane: Lane) -> None:
        """Give the lane the shared state its subscription calls for now."""
        sub = lane.subscription
        if not applies(sub):
            lane.shared = None  # (slots it held come back when their hold expires)
            return
        shared = lane.shared
        if shared is None:
            shared = lane.shared = Shared()
        capped = sub.max_in_flight is not None
        keeps = capped and sub.rate_limit_per_second is None
        if shared.keeps_slots and not keeps:
            # from now on each attempt gives its slot back as it ends; the free ones go now
            shared.released += max(shared.slots - lane.busy, 0)
            shared.slots = 0
        elif keeps and not shared.keeps_slots:
            # the attempts under way hold theirs already
            shared.slots, shared.released = lane.busy, 0
            shared.start_until_ms = shared.renew_at_ms = 0
        shared.capped, shared.keeps_slots = capped, keeps

    def after_pump(self, lane: Lane, room: int, now_ms: int) -> None:
        """The lane has started what it could: ask for more if it waits on them (``room``:
        attempts the worker's own cap still allows), renew what it keeps, or give back what it
        no longer needs."""
        shared = lane.shared
        if shared is None or shared.asking or shared.retry_at_ms > now_ms:
            return
        waiting = len(lane.queue) if lane.limited_until_ms <= now_ms else 0
        wanted = min(waiting, lane.cap - lane.under_way, room)
        if shared.keeps_slots:
            free = shared.slots - lane.busy if now_ms < shared.start_until_ms else 0
            wanted -= max(free, 0)
            renew = shared.slots > 0 and now_ms >= shared.renew_at_ms
            if renew and free > len(lane.queue):
                # no attempt may start on them meanwhile: another worker may have them soon
                shared.released = free - len(lane.queue)
                shared.slots -= shared.released
            if wanted <= 0 and not renew:
                if free > len(lane.queue) and shared.timer is None:
                    # ran dry: its spare slots go back at the renewal, even if idle till then
                    shared.timer = asyncio.get_running_loop().call_later(
                        (shared.renew_at_ms - now_ms) / 1000, self._on_renewal, lane
                    )
                return
        elif wanted <= 0 and not shared.released:
            return
        shared.asking = True
        task = asyncio.create_task(self._ask(lane, max(wanted, 0)), name="hookline-limits")
        self._asks.add(task)
        task.add_done_callback(self._asks.discard)

    def _on_renewal(self, lane: Lane) -> None:
        if lane.shared is not None:
            lane.shared.timer = None
        self._pump(lane)

    async def _ask(self, lane: Lane, wanted: int) -> None:
        shared = lane.shared
        assert shared is not None
        sub = lane.subscription
        released, shared.released = shared.released, 0
        asked_at = self._clock.now_ms()
        grant: LimitGrant | None = None
        try:
            grant = await self._storage.take_limits(
                sub.id,
                self.holder,
                wanted=wanted,
                released=released,
                max_in_flight=sub.max_in_flight,
                rate_per_s=sub.rate_limit_per_second,
                now_ms=asked_at,
                hold_ms=self._hold_ms,
            )
        except Exception as exc:
            # the slots stay ours to give back next time; the lane waits a moment (an outage
            # is logged once by the storage's health state, storage/outage.py)
            if not shared.keeps_slots:
                shared.released += released
            if not isinstance(exc, StorageUnavailable):
                log.warning("asking for subscription %s's limits failed: %s", sub.id, exc)
        now = self._clock.now_ms()
        if grant is None:
            lane.limited_until_ms = shared.retry_at_ms = now + ERROR_WAIT_MS
        else:
            if grant.granted < wanted:
                wait_ms = grant.rate_wait_ms
                lane.limited_until_ms = now + (wait_ms if wait_ms is not None else _full_ms(lane))
            if shared.keeps_slots:
                # what the database holds for us is what we may use, until the hold is due
                shared.slots = grant.held
                shared.start_until_ms = asked_at + HOLD_MARGIN_MS
                shared.renew_at_ms = asked_at + RENEW_MS
            else:
                shared.permits = grant.granted
        self._pump(lane)  # starts what it may, and a timer for the lane waiting its turn
        if shared.permits:
            # not started (the worker's own cap, or leases run short): never kept for later
            if shared.capped:
                shared.released += shared.permits
            shared.permits = 0
        shared.asking = False
        # again: asks for what the lane may start now, or gives back what is left over or
        # ended meanwhile (nothing else would, were its attempts all over)
        self._pump(lane)

    async def close(self, lanes: list[Lane]) -> None:
        """The worker stops, its attempts over: give back every slot it still holds."""
        while self._asks:  # (one that ends may give back what ended meanwhile)
            await asyncio.wait(set(self._asks))
        for lane in lanes:
            shared = lane.shared
            if shared is None:
                continue
            if shared.timer is not None:
                shared.timer.cancel()
                shared.timer = None
            held = shared.slots if shared.keeps_slots else shared.released
            if not held:
                continue
            try:
                await self._storage.take_limits(
                    lane.subscription.id,
                    self.holder,
                    wanted=0,
                    released=held,
                    max_in_flight=lane.subscription.max_in_flight,
                    rate_per_s=lane.subscription.rate_limit_per_second,
                    now_ms=self._clock.now_ms(),
                    hold_ms=self._hold_ms,
                )
                shared.slots = shared.released = 0
            except Exception:
                # they come back when their hold expires
                log.warning("giving back subscription %s's slots failed", lane.subscription.id)


def _full_ms(lane: Lane) -> int:
    average = lane.average_ms
    if average is None:
        return FULL_WAIT_UNKNOWN_MS
    return int(min(max(average, FULL_WAIT_MIN_MS), FULL_WAIT_MAX_MS))
