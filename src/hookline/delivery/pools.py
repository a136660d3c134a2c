"""Pools: how a worker's attempt slots are shared between fast, unproven and slow endpoints.

Every attempt takes one of the worker's ``max_in_flight`` slots. Without more than that, a
few endpoints that accept a connection and never answer would each hold their whole cap for
a full timeout, and sixteen of them fill a worker of 256: every other subscription waits.

So each lane is of a *kind*, decided from how its endpoint answered (``classify``):

- ``fast``: its last attempt and its running average were quick. It takes slots from the
  whole worker, up to its subscription's cap.
- ``probe``: nothing is known yet (no attempt has ended). It may have only a couple of
  attempts under way, enough to learn how the endpoint answers within one round trip, and
  all unproven lanes together hold at most half of the worker (after a restart every lane
  is unproven, so this pool is the wider one).
- ``slow``: its last attempt or its average took long (a timeout is long). It may hold only a
  small share of the slow pool, and all slow lanes together at most a quarter of the worker.

Whatever the unproven and slow endpoints do, a quarter of the worker stays for the fast
ones (and once the unproven ones are known, three quarters); a slow lane that answers
quickly again is fast again at its next attempt's end. (Svix and Hookdeck likewise move
failing endpoints to queues of their own; here it is per lane, within one worker.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["fast", "probe", "slow"]
KINDS: tuple[Kind, ...] = ("fast", "probe", "slow")

#: an attempt that takes this long marks its endpoint slow: ten times a sluggish answer, yet
#: short enough that a hanging endpoint is known as such after its first timeouts
SLOW_ATTEMPT_MS = 1000.0
#: attempts an endpoint nothing is known about may have under way
PROBE_CAP = 2
#: the slow pool is this fraction of the worker's slots, the probe pool twice as large
SLOW_POOL_DIVISOR = 4
#: a slow lane may hold this fraction of the slow pool at most: several slow endpoints share
#: it, none takes it all
SLOW_LANE_DIVISOR = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolSizes:
    """The bounds of one worker's pools, from its settings."""

    #: the worker's own cap (``max_in_flight``): attempts of every kind together
    total: int
    #: attempts of unproven lanes together, and of slow lanes together, at most
    probe: int
    slow: int
    #: attempts one slow lane may have under way
    per_slow_lane: int
    #: how long an attempt takes for its endpoint to count as slow
    slow_after_ms: float


def sizes(max_in_flight: int, timeout_ms: int) -> PoolSizes:
    """The pools of a worker with ``max_in_flight`` slots and attempts timing out after
    ``timeout_ms``. An attempt cut short by the timeout is slow even when the timeout is
    shorter than SLOW_ATTEMPT_MS: then half the timeout marks it."""
    slow = max(1, max_in_flight // SLOW_POOL_DIVISOR)
    return PoolSizes(
        total=max_in_flight,
        probe=max(1, 2 * max_in_flight // SLOW_POOL_DIVISOR),
        slow=slow,
        per_slow_lane=max(1, slow // SLOW_LANE_DIVISOR),
        slow_after_ms=min(SLOW_ATTEMPT_MS, timeout_ms / 2),
    )


def classify(average_ms: float | None, last_ms: float | None, slow_after_ms: float) -> Kind:
    """The kind of a lane whose attempts took ``average_ms`` on average (a running average)
    and ``last_ms`` the last time; both None before any attempt ended."""
    if average_ms is None or last_ms is None:
        return "probe"
    if last_ms >= slow_after_ms or average_ms >= slow_after_ms:
        return "slow"
    return "fast"


def lane_cap(kind: Kind, configured: int, pools: PoolSizes) -> int:
    """Attempts a lane of ``kind`` may have under way, its subscription allowing
    ``configured``: never more than the worker's own cap."""
    cap = min(configured, pools.total)
    if kind == "probe":
        return min(cap, PROBE_CAP)
    if kind == "slow":
        return min(cap, pools.per_slow_lane)
    return cap


class Pools:
    """Attempts under way by kind, against the bounds of :class:`PoolSizes`."""

    __slots__ = ("busy", "sizes")

    def __init__(self, pool_sizes: PoolSizes) -> None:
        self.sizes = pool_sizes
        self.busy: dict[Kind, int] = dict.fromkeys(KINDS, 0)

    @property
    def total_busy(self) -> int:
        return self.busy["fast"] + self.busy["probe"] + self.busy["slow"]

    def room(self, kind: Kind) -> int:
        """Attempts of ``kind`` that may start now."""
        room = self.sizes.total - self.total_busy
        if kind == "probe":
            room = min(room, self.sizes.probe - self.busy["probe"])
        elif kind == "slow":
            room = min(room, self.sizes.slow - self.busy["slow"])
        return max(room, 0)

    def take(self, kind: Kind) -> None:
        self.busy[kind] += 1

    def give(self, kind: Kind) -> None:
        self.busy[kind] -= 1
