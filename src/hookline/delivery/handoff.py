"""The handoff: fresh deliveries of this process's publishes, taken without a claim.

A publish asks for room (``lease``) in lanes that could start its deliveries at once, writes
those deliveries already leased to this worker, and hands them over (``take``): they are
sent without waiting for, and paying for, a claim. ``services/publishing.py`` is the other
side (its ``Handoff`` protocol).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from hookline.core import ids
from hookline.core.models import ClaimedDelivery, Subscription
from hookline.delivery.claiming import Claimer
from hookline.delivery.revocations import Revocations
from hookline.delivery.scheduling import Scheduler
from hookline.services.clock import Clock
from hookline.storage.records import Lease
from hookline.storage.roles.deliveries import Deliveries

#: deliveries held at most once a publish's handoff is counted: a fan-out's whole width is
#: queued in memory (its deliveries share one event) rather than claimed back row by row
HANDOFF_HELD = 10_000


class Handoff:
    """Reserves lane room for publishes, and queues what they hand over as claimed."""

    def __init__(
        self,
        *,
        storage: Deliveries,
        clock: Clock,
        scheduler: Scheduler,
        claimer: Claimer,
        revocations: Revocations,
        needed_ms: int,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._scheduler = scheduler
        self._claimer = claimer
        self._revocations = revocations
        self._lease_ms = claimer.lease_ms
        self._max_handoff = max(scheduler.max_held, HANDOFF_HELD)
        #: how long a handed-over delivery may wait for its start: half of what its lease
        #: leaves before an attempt
        self._wait_ms = (self._lease_ms - needed_ms) / 2
        #: reservations by lease token, the revocations counted when each was granted, and
        #: their total
        self._reservations: dict[str, dict[str, int]] = {}
        self._since: dict[str, int] = {}
        self._reserved = 0
        #: set by a stopping worker: nothing more is taken
        self.stopping = False

    def lease(self, wanted: Mapping[str, tuple[Subscription, int]], now_ms: int) -> Lease | None:
        """Reserve room for ``wanted`` (subscription id -> the subscription and how many new
        deliveries it gets) in lanes that could start them at once; the publish writes those
        deliveries leased to us and hands them over with :meth:`take`."""
        if self.stopping or not self._revocations.hearing.is_set():
            return None
        room = self._limit() - self._scheduler.held - self._reserved
        granted: dict[str, int] = {}
        for sid, (sub, count) in wanted.items():
            if count > room:
                continue
            lane = self._scheduler.lane(sub)
            if lane.free_slots(now_ms) < count or (lane.rate and count > 1):
                continue
            lane.reserved += count
            granted[sid] = count
            room -= count
        if not granted:
            return None
        token = ids.new_uuid()
        self._reservations[token] = granted
        self._since[token] = self._revocations.count
        self._reserved += sum(granted.values())
        return Lease(
            token=token, until_ms=now_ms + self._lease_ms, subscription_ids=frozenset(granted)
        )

    async def take(self, lease: Lease, leased: Sequence[ClaimedDelivery]) -> None:
        """The deliveries a publish wrote under ``lease`` (none if its write failed): queue
        them as claimed ones, and free whatever of the reservation they did not use."""
        since = self._since.pop(lease.token, 0)
        lanes = self._scheduler.lanes
        for sid, count in self._reservations.pop(lease.token, {}).items():
            self._reserved -= count
            lane = lanes.get(sid)
            if lane is not None:
                lane.reserved -= count
        if leased and self.stopping:
            # too late to send them: give them back at once rather than let the lease lapse
            await self._storage.release(
                [c.delivery.id for c in leased], lease.token, self._clock.now_ms()
            )
        elif leased:
            await self._claimer.accept(leased, lease.until_ms - self._lease_ms, since)

    def _limit(self) -> int:
        """How many deliveries the worker may hold once a handoff is counted: what its slots
        start well within a lease at the recent pace of attempts (a fan-out to slow endpoints
        would otherwise wait out its leases in the lanes and be given back), at most
        HANDOFF_HELD; before any attempt has ended, what claims may bring."""
        sched = self._scheduler
        if sched.pace_ms is None:
            return sched.max_held
        startable = sched.max_in_flight * self._wait_ms / max(sched.pace_ms, 1.0)
        return max(sched.max_held, min(self._max_handoff, int(startable)))

    def would_claim(self, subscription_ids: Collection[str]) -> bool:
        """Whether a claim now could take due deliveries of any of these subscriptions. Not
        when each has a lane the claims leave out (full, hot or out of rate): the claim loop
        then waits for a slot to free or its own next due time anyway."""
        now = self._clock.now_ms()
        lanes, horizon_ms = self._scheduler.lanes, self._scheduler.horizon_ms
        for sid in subscription_ids:
            lane = lanes.get(sid)
            if lane is None or lane.wants_claims(now, horizon_ms):
                return True
        return False
