"""Lanes: what one worker holds for each subscription.

A lane keeps the subscription's attempts under way (at most its cap), a queue of leased
deliveries ready to go the moment a slot frees (so a fast endpoint never waits for a database
round trip), and its rate limiter. A lane whose backlog is larger than it may hold is *hot*:
the general claim leaves it out and the lane refills itself with claims of its own, so a busy
subscription neither crowds out the others nor makes the worker claim rows it must give back.

How deep the queue may be follows the endpoint's speed: a fast endpoint gets several waves
queued, a slow or unknown one a single wave. Whatever the depth, a delivery whose lease could
run out during its attempt is never started: it is given back instead, so a lease that lapses
in a queue can never lead to two workers sending the same delivery.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from hookline.core.models import ClaimedDelivery, Subscription
from hookline.core.ratelimit import admit
from hookline.delivery.pools import Kind
from hookline.delivery.shared_limits import Shared

FAST_ATTEMPT_MS = 250.0  # an endpoint answering faster than this on average is fast
FAST_DEPTH = 32  # waves (of the cap) a fast endpoint may have queued
EWMA_WEIGHT = 0.2  # weight of the newest attempt in the running average duration


@dataclass(frozen=True, slots=True)
class Held:
    """A delivery waiting in a lane, and until when its lease holds."""

    claimed: ClaimedDelivery
    lease_until_ms: int


@dataclass(eq=False, slots=True)
class Lane:
    subscription: Subscription
    #: attempts under way at most: ``limit`` as the lane's kind allows (see pools.py)
    cap: int
    #: the subscription's own cap, as configured (or the worker's default)
    limit: int = 0
    #: fast, probe (nothing known yet) or slow: which pool its attempts take slots from
    kind: Kind = "probe"
    #: leased deliveries waiting for a slot, oldest first
    queue: deque[Held] = field(default_factory=deque)
    busy: int = 0
    #: slots promised to publishes of this process that are being written (see handoff)
    reserved: int = 0
    #: refilled by claims of its own rather than by the general claim
    hot: bool = False
    refilling: bool = False
    #: waiting in the dispatcher's turn for a slot of the worker's own cap
    gated: bool = False
    #: running average of attempt durations, and the last one (None until one ends)
    average_ms: float | None = None
    last_ms: float | None = None
    #: rate limiter state (theoretical arrival time) and when the next attempt may go
    tat_ms: float | None = None
    limited_until_ms: int = 0
    timer: asyncio.TimerHandle | None = None
    #: the subscription's limits as every worker shares them (shared_limits.py), when it
    #: sets any and several workers may run: its attempts start within what the database grants
    shared: Shared | None = None
    #: this process's direct sends under way (test sends, replays) by subscription id
    #: (services/send_limits.py): they count against the cap with the lane's own attempts
    sends: Mapping[str, int] = field(default_factory=dict)

    @property
    def under_way(self) -> int:
        """The subscription's attempts under way in this process: the lane's, and its direct
        sends."""
        if self.sends:
            return self.busy + self.sends.get(self.subscription.id, 0)
        return self.busy

    @property
    def rate(self) -> float | None:
        return self.subscription.rate_limit_per_second

    def queue_limit(self, horizon_ms: int) -> int:
        """How many deliveries may wait here: several waves for a fast endpoint, one for a
        slow or unknown one, and for a rate-limited lane no more than its rate starts within
        ``horizon_ms``."""
        if self.rate:
            return min(self.cap, int(self.rate * horizon_ms / 1000))
        if self.average_ms is not None and self.average_ms < FAST_ATTEMPT_MS:
            return self.cap * FAST_DEPTH
        return self.cap

    def queue_room(self, horizon_ms: int) -> int:
        return max(self.queue_limit(horizon_ms) - len(self.queue), 0)

    def wants_claims(self, now_ms: int, horizon_ms: int) -> bool:
        """Whether the general claim should bring it more."""
        if self.hot or self.limited_until_ms > now_ms:
            return False
        return self.queue_room(horizon_ms) > 0 or self.under_way < self.cap

    def next_startable(self, now_ms: int, needed_ms: int) -> Held | None:
        """Take the next delivery that may start now, within the cap and the rate. One whose
        lease ends within ``needed_ms`` is taken too, with its ``lease_until_ms`` telling the
        caller not to send it."""
        busy = self.busy
        if not self.queue or busy >= self.cap:
            return None
        if self.sends and busy + self.sends.get(self.subscription.id, 0) >= self.cap:
            return None
        if self.queue[0].lease_until_ms - now_ms < needed_ms:
            return self.queue.popleft()
        if self.shared is not None:
            if not self.shared.may_start(self.busy, now_ms):
                return None
        elif self.rate:
            admission = admit(self.tat_ms, now_ms, self.rate)
            if not admission.allowed:
                self.limited_until_ms = now_ms + admission.retry_in_ms
                return None
            self.tat_ms = admission.tat_ms
        self.busy += 1
        return self.queue.popleft()

    def attempt_ended(self, duration_ms: float) -> None:
        self.busy -= 1
        self.last_ms = duration_ms
        if self.shared is not None:
            self.shared.attempt_ended()
        if self.average_ms is None:
            self.average_ms = duration_ms
        else:
            self.average_ms += EWMA_WEIGHT * (duration_ms - self.average_ms)

    def free_slots(self, now_ms: int) -> int:
        """Attempts that could start right now and nothing queued ahead of them: what a
        publish of this process may hand straight over."""
        if self.hot or self.queue or self.limited_until_ms > now_ms or self.shared is not None:
            # (a lane with shared limits starts only what the database permits: a handoff
            # would wait here for that, as claimed deliveries do)
            return 0
        return max(self.cap - self.under_way - self.reserved, 0)

    def is_idle(self, now_ms: int) -> bool:
        """Holds nothing and remembers nothing worth keeping."""
        return (
            not self.busy
            and not self.reserved
            and not self.queue
            and not self.refilling
            and self.timer is None
            and (self.shared is None or self.shared.is_idle())
            and (self.tat_ms is None or self.tat_ms <= now_ms)
        )
