"""Claiming: leasing due deliveries from the storage into the worker's lanes, and giving back
what it will not send.

The claim loop takes what the worker has room for, oldest due first, leaving out the lanes
that could take no more (full, out of rate) and the hot ones, which claim for themselves
just what they can hold. When nothing is due it waits for the next due time, a wake-up (a
publish, a database notification) or a slot to free. A claim never sends: the deliveries go
to their lanes (scheduling.py), and those a lane cannot hold are given back at once.

No database transaction is held across an HTTP call: a delivery is leased in one short
transaction, sent, and its outcome written in another. A worker that dies leaves leases
that expire, and its deliveries fall due again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection, Sequence

from hookline.core.errors import StorageUnavailable
from hookline.core.models import ClaimedDelivery
from hookline.delivery.lanes import Lane
from hookline.delivery.revocations import Revocations
from hookline.delivery.scheduling import Scheduler
from hookline.metrics import Metrics
from hookline.services.clock import Clock
from hookline.storage.roles.deliveries import Deliveries

log = logging.getLogger("hookline.worker")

CLAIM_BATCH = 200  # deliveries leased per claim
#: deliveries leased per claim of a hot lane (one busy subscription) at most: it has room for
#: many (lanes.FAST_DEPTH), and fewer, larger claims cost the SQLite thread less per delivery
REFILL_BATCH = 400
MIN_WAIT_S = 0.005  # never spin: a due row another worker holds needs a moment
#: a claim soon after one that took all it might asks only for what fell due since a moment
#: before that one (rows written a little late, with an earlier due time, are still found)
WINDOW_MARGIN_MS = 1_000
#: while storage is down (logged once by its health state, storage/outage.py), claims wait
#: this long at first, twice as long each time after, up to the most
OUTAGE_WAIT_S = 0.25
OUTAGE_WAIT_MAX_S = 5.0


class Claimer:
    """Brings due deliveries into the ``scheduler``'s lanes, every ``lease_ms`` long."""

    def __init__(
        self,
        *,
        storage: Deliveries,
        clock: Clock,
        scheduler: Scheduler,
        revocations: Revocations,
        metrics: Metrics,
        lease_ms: int,
        poll_interval_s: float,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._scheduler = scheduler
        self._revocations = revocations
        self.lease_ms = lease_ms
        self._poll_s = poll_interval_s
        #: set when something may be due now (a publish, a notification, a give-back)
        self.wakeup = asyncio.Event()
        #: hot lanes' own claims and give-backs under way
        self._tasks: set[asyncio.Task[None]] = set()
        #: when the latest claim ran and what it left out, if it took all it might (else None)
        self._exhausted: tuple[int, frozenset[str]] | None = None
        #: when the latest claim of every due row ran (see _claim_after)
        self._full_ms: int | None = None
        self._found = metrics.claims.labels("yes")
        self._empty = metrics.claims.labels("no")

    async def run(self, stop: asyncio.Event) -> None:
        """Claim until ``stop``."""
        sched, hearing = self._scheduler, self._revocations.hearing
        outage_wait_s = 0.0
        while not stop.is_set():
            if not hearing.is_set():
                await _wait_any(stop, (hearing,), self._poll_s)
                continue
            room = sched.room()
            got = 0
            if room > 0:
                self.wakeup.clear()
                sched.slot_freed.clear()
                sched.lane_freed.clear()
                try:
                    got = await self.claim(min(room, CLAIM_BATCH))
                    outage_wait_s = 0.0
                except StorageUnavailable:
                    outage_wait_s = min(max(outage_wait_s * 2, OUTAGE_WAIT_S), OUTAGE_WAIT_MAX_S)
                    await _wait_any(stop, (), outage_wait_s)
                    continue
                except Exception:
                    log.exception("claim failed; retrying")
                    await _wait_any(stop, (), self._poll_s)
            if got and got == min(room, CLAIM_BATCH):
                continue  # there may be more due right now
            if room <= 0:
                sched.slot_freed.clear()
                await _wait_any(stop, (sched.slot_freed,), self._poll_s)
                continue
            # a lane left out of the claim may take more as soon as one of its attempts ends;
            # attempts of the other lanes ending change nothing a claim could find
            excluded = sched.left_out
            wake_on = (self.wakeup, sched.lane_freed) if excluded else (self.wakeup,)
            await _wait_any(stop, wake_on, await self._idle_wait_s(excluded))

    async def claim(self, limit: int) -> int:
        """One general claim of at most ``limit``, leaving out the lanes that want none
        (``Scheduler.left_out``); how many it leased."""
        now = self._clock.now_ms()
        since = self._revocations.count
        excluded = self._scheduler.excluded(now)
        left_out = self._scheduler.left_out = frozenset(excluded)
        after = self._claim_after(now, left_out)
        self._exhausted = None
        claimed = await self._storage.claim_due(now, limit, self.lease_ms, excluded, after_ms=after)
        if after is None:
            self._full_ms = now
        if len(claimed) < limit:
            self._exhausted = (now, left_out)
        (self._found if claimed else self._empty).inc()
        await self.accept(claimed, now, since)
        return len(claimed)

    def _claim_after(self, now_ms: int, left_out: frozenset[str]) -> int | None:
        """Where the claim may start (None: at the oldest due row). While lanes are left out,
        their due rows pile up (a dead endpoint's), and a claim walks the due rows oldest
        first: one soon after a claim that took all it might, with no lane let back in
        since, asks only for what fell due after that one, less a margin. Whatever that
        misses (a row written late with an earlier due time) waits at most a poll interval:
        a claim of every due row runs at least that often (the idle wait ends by then)."""
        if not left_out or self._exhausted is None or self._full_ms is None:
            return None
        at, before = self._exhausted
        if before - left_out or now_ms - self._full_ms >= self._poll_s * 1000:
            return None
        return at - WINDOW_MARGIN_MS

    async def _idle_wait_s(self, excluded: Collection[str]) -> float:
        """How long to wait for something to fall due. After a claim that took fewer than it
        might, what was due by then and left is the left-out lanes' (a lane that frees wakes
        the loop), another worker's, or written since (each such write wakes the loop: a
        publish, a give-back, an outcome due at once): only what falls due later is asked
        for, so that a dead endpoint's backlog is not stepped over by every wait."""
        now = self._clock.now_ms()
        swept = self._exhausted[0] if self._exhausted is not None else None
        try:
            due = await self._storage.next_due_ms(excluded, swept)
        except Exception:
            return self._poll_s
        lanes = self._scheduler.lanes.values()
        limited = [ln.limited_until_ms for ln in lanes if ln.limited_until_ms > now]
        if excluded and self._full_ms is not None:
            # the next claim of every due row (_claim_after)
            limited.append(self._full_ms + round(self._poll_s * 1000))
        if limited:
            due = min(limited) if due is None else min(due, *limited)
        if due is None:
            return self._poll_s
        return min(max((due - now) / 1000, MIN_WAIT_S), self._poll_s)

    async def accept(
        self, claimed: Sequence[ClaimedDelivery], claimed_at_ms: int, since: int
    ) -> None:
        """Queue claimed deliveries in their lanes; give back what a lane cannot hold.
        ``since``: the revocations counted when the claim began; a subscription revoked since
        has had these deliveries taken away (held or cancelled), and none of them is sent;
        one begun before the worker last gave back all it held is given back whole."""
        now = self._clock.now_ms()
        revocations = self._revocations
        if revocations.all_at > since:
            if claimed:
                self.give_back(claimed, now)
            return
        if revocations.count > since:
            claimed = [
                c for c in claimed if not revocations.revoked_after(c.subscription.id, since)
            ]
        back = self._scheduler.queue(claimed, claimed_at_ms + self.lease_ms, now)
        for (token, due_ms), delivery_ids in back.items():
            await self._storage.release(delivery_ids, token, now, due_ms=due_ms)
        if back:
            self._scheduler.freed()

    def give_back(self, claimed: Sequence[ClaimedDelivery], now_ms: int) -> None:
        """Give leased deliveries back unsent, due now (in a task of its own)."""

        async def release() -> None:
            by_token: dict[str, list[str]] = {}
            for c in claimed:
                by_token.setdefault(c.lease_token, []).append(c.delivery.id)
            try:
                for token, delivery_ids in by_token.items():
                    await self._storage.release(delivery_ids, token, now_ms)
            except StorageUnavailable:
                pass  # their leases lapse, and they fall due again
            except Exception:
                log.exception("giving back %d deliveries failed", len(claimed))
            self.wakeup.set()

        self._keep(asyncio.create_task(release(), name="hookline-give-back"))
        self._scheduler.freed()  # they are no longer held

    def refill(self, lane: Lane) -> None:
        """Start a hot lane's own claim (its ``refilling`` is set)."""
        self._keep(asyncio.create_task(self._refill(lane), name="hookline-refill"))

    def _keep(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait for the lanes' own claims and the give-backs under way (a stopping worker)."""
        if self._tasks:
            await asyncio.wait(self._tasks)

    async def _refill(self, lane: Lane) -> None:
        """A hot lane's own claim: just what it can hold, oldest due first."""
        sched = self._scheduler
        sub_id = lane.subscription.id
        try:
            now = self._clock.now_ms()
            since = self._revocations.count
            want = min(
                lane.cap - lane.under_way + lane.queue_room(sched.horizon_ms),
                sched.max_held - sched.held,
                REFILL_BATCH,
            )
            if want <= 0:
                # no room (a fan-out handed over whole fills the worker): the general claim
                # serves the lane once there is; left hot with nothing under way, nothing
                # would ever refill it
                lane.hot = False
                self.wakeup.set()
                return
            claimed = await self._storage.claim_due(
                now, want, self.lease_ms, only_subscription=sub_id
            )
            (self._found if claimed else self._empty).inc()
            if len(claimed) < want:
                lane.hot = False  # drained: the general claim serves it again
                self.wakeup.set()
            lane.refilling = False
            await self.accept(claimed, now, since)
        except StorageUnavailable:
            lane.hot = False  # the general claim waits out the outage
        except Exception:
            log.exception("refilling the lane of subscription %s failed", sub_id)
            lane.hot = False
        finally:
            lane.refilling = False


async def _wait_any(stop: asyncio.Event, others: Sequence[asyncio.Event], timeout_s: float) -> None:
    waiters = [asyncio.create_task(stop.wait())]
    waiters += [asyncio.create_task(e.wait()) for e in others]
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*waiters, return_exceptions=True)
