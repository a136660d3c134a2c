"""Lanes: what one worker holds for each subscription.

A lane keeps the subscription's attempts under way (at most its cap), a short queue of leased
deliveries ready to go the moment a slot frees (so a fast endpoint never waits for a database
round trip), and its rate limiter. A lane whose backlog is larger than one share of a claim is
*hot*: the general claim leaves it out and the lane refills itself with claims of its own, so
a busy subscription neither crowds out the others nor makes the worker claim rows it must give
back.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from hookline.core.models import ClaimedDelivery, Subscription
from hookline.core.ratelimit import admit


@dataclass(eq=False, slots=True)
class Lane:
    subscription: Subscription
    #: attempts under way at most
    cap: int
    #: leased deliveries waiting for a slot, oldest first
    queue: deque[ClaimedDelivery] = field(default_factory=deque)
    busy: int = 0
    #: refilled by claims of its own rather than by the general claim
    hot: bool = False
    refilling: bool = False
    #: rate limiter state (theoretical arrival time) and when the next attempt may go
    tat_ms: float | None = None
    limited_until_ms: int = 0
    timer: asyncio.TimerHandle | None = None

    @property
    def rate(self) -> float | None:
        return self.subscription.rate_limit_per_second

    def queue_room(self, horizon_ms: int) -> int:
        """How many more deliveries may wait here: one wave at the cap, and for a rate-limited
        lane no more than its rate lets start within ``horizon_ms``."""
        most = self.cap
        if self.rate:
            most = min(most, int(self.rate * horizon_ms / 1000))
        return max(most - len(self.queue), 0)

    def wants_claims(self, now_ms: int, horizon_ms: int) -> bool:
        """Whether the general claim should bring it more."""
        if self.hot or self.limited_until_ms > now_ms:
            return False
        return self.queue_room(horizon_ms) > 0 or self.busy < self.cap

    def next_startable(self, now_ms: int) -> ClaimedDelivery | None:
        """Take the next delivery that may start now, within the cap and the rate."""
        if not self.queue or self.busy >= self.cap:
            return None
        if self.rate:
            admission = admit(self.tat_ms, now_ms, self.rate)
            if not admission.allowed:
                self.limited_until_ms = now_ms + admission.retry_in_ms
                return None
            self.tat_ms = admission.tat_ms
        self.busy += 1
        return self.queue.popleft()

    def is_idle(self, now_ms: int) -> bool:
        """Holds nothing and remembers nothing worth keeping."""
        return (
            not self.busy
            and not self.queue
            and not self.refilling
            and self.timer is None
            and (self.tat_ms is None or self.tat_ms <= now_ms)
        )
