"""The dispatcher: claim due deliveries, send them within capacity, write outcomes in batches.

No database transaction is held across an HTTP call: a delivery is leased (claimed) in one
short transaction, sent, and its outcome written in another. A worker that dies leaves
leases that expire, and its deliveries fall due again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any

from hookline.core import attempt_headers, ids
from hookline.core.errors import StorageUnavailable
from hookline.core.models import ClaimedDelivery, Subscription
from hookline.core.outcome import SendResult
from hookline.delivery.lanes import EWMA_WEIGHT, Held, Lane
from hookline.delivery.outcomes import OutcomeWriter
from hookline.delivery.pools import KINDS, Kind, Pools, classify, lane_cap, sizes
from hookline.delivery.reporting import Report
from hookline.delivery.response import Response
from hookline.delivery.sender import Sender
from hookline.delivery.shared_limits import SharedLimits
from hookline.metrics import Metrics
from hookline.services import outbound
from hookline.services.clock import Clock
from hookline.services.secretbox import SecretBox
from hookline.storage.base import Storage
from hookline.storage.records import Disabled, Lease, Recorded
from hookline.storage.revocations import ACK_WAIT_S
from hookline.tracing import Tracing

log = logging.getLogger("hookline.worker")

USER_AGENT = outbound.USER_AGENT
CLAIM_BATCH = 200  # deliveries leased per claim
#: deliveries leased per claim of a hot lane (one busy subscription) at most: it has room for
#: many (lanes.FAST_DEPTH), and fewer, larger claims cost the SQLite thread less per delivery
REFILL_BATCH = 400
LEASE_MARGIN_MS = 10_000  # room to write an outcome, on top of the attempts a lease covers
OUTCOME_MARGIN_MS = 5_000  # an attempt starts only with this much lease left after it
MAX_JITTER_MS = 1000  # added to retries, never subtracted
STOP_GRACE_S = 10.0  # how long a stopping worker lets in-flight attempts finish
MIN_WAIT_S = 0.005  # never spin: a due row another worker holds needs a moment
MAX_IDLE_LANES = 1_000  # idle lanes kept before they are dropped
MAX_REVOKED = 10_000  # revocations remembered (see revoke); they matter for seconds at most
#: a worker whose loop stood still this long (the process stopped, or starved) may have let
#: a disabling request wait out its answer: it gives back all it holds (see _check_awake).
#: Well under the request's wait, so that any worker it gave up on notices.
STALL_S = ACK_WAIT_S / 2
BEAT_S = STALL_S / 4  # how often the loop notes it is running
#: deliveries held at most once a publish's handoff is counted: a fan-out's whole width is
#: queued in memory (its deliveries share one event) rather than claimed back row by row
HANDOFF_HELD = 10_000
#: while storage is down (logged once by its health state, storage/outage.py), claims and
#: outcome writes wait this long at first, twice as long each time after, up to the most
OUTAGE_WAIT_S = 0.25
OUTAGE_WAIT_MAX_S = 5.0


class Dispatcher:
    def __init__(
        self,
        *,
        storage: Storage,
        sender: Sender,
        box: SecretBox,
        clock: Clock,
        metrics: Metrics,
        schedule: Sequence[int],
        timeout_s: float,
        body_cap_bytes: int,
        max_in_flight: int,
        max_in_flight_per_subscription: int,
        poll_interval_s: float,
        disable_after_s: int | None = None,
        on_disabled: Callable[[Sequence[Disabled]], Awaitable[None]] | None = None,
        report: Report | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._storage = storage
        self._sender = sender
        self._box = box
        self._clock = clock
        self._metrics = metrics
        self._schedule = tuple(schedule)
        self._cap = body_cap_bytes
        self._max_in_flight = max_in_flight
        self._per_sub = max_in_flight_per_subscription
        self._poll_s = poll_interval_s
        self._disable_after_ms = disable_after_s * 1000 if disable_after_s else None
        self._on_disabled = on_disabled
        self._report = report
        self._tracing = tracing
        # a leased delivery may wait in its lane before its attempt: the lease covers about
        # one attempt's worth of waiting, the attempt and the write of the outcome; one whose
        # lease would not outlive its attempt is given back unsent (see lanes.py)
        self._timeout_ms = int(timeout_s * 1000)
        self._lease_ms = 2 * self._timeout_ms + LEASE_MARGIN_MS
        self._needed_ms = self._timeout_ms + OUTCOME_MARGIN_MS
        #: a rate-limited lane keeps only what its rate starts well within the lease
        self._horizon_ms = self._lease_ms // 2
        #: deliveries held at once (under way or waiting in lanes)
        self._max_held = max_in_flight + REFILL_BATCH
        self._max_handoff = max(self._max_held, HANDOFF_HELD)
        #: the running average of attempt durations over all lanes, and how long a handed-over
        #: delivery may wait for its start: half of what its lease leaves before an attempt
        self._pace_ms: float | None = None
        self._wait_ms = (self._lease_ms - self._needed_ms) / 2
        #: attempt slots by the kind of endpoint (fast, unproven, slow: see pools.py)
        self._pools = Pools(sizes(max_in_flight, self._timeout_ms))
        #: by kind, lanes with an attempt that may start but for their pool's room, oldest
        #: first; each starts in turn as attempts end
        self._gated: dict[Kind, deque[Lane]] = {kind: deque() for kind in KINDS}
        self._wakeup = asyncio.Event()
        self._slot_freed = asyncio.Event()
        #: lanes the last general claim left out, and set when one of them could take more
        self._left_out: frozenset[str] = frozenset()
        self._lane_freed = asyncio.Event()
        #: attempts under way: tasks, and answers of attempts written at once (see _spawn)
        self._tasks: set[asyncio.Future[Any]] = set()
        self._lanes: dict[str, Lane] = {}
        self._queued = 0
        self._refills: set[asyncio.Task[None]] = set()
        self._outcomes = OutcomeWriter(
            lambda batch: storage.record_outcomes(batch, self._disable_after_ms),
            clock,
            on_recorded=self._recorded,
        )
        self._rng = random.Random()
        self._jitter_ms = functools.partial(self._rng.randrange, MAX_JITTER_MS)
        #: handoff reservations by lease token, and their total
        self._reservations: dict[str, dict[str, int]] = {}
        #: revocations so far, and per subscription revoked the count after its revocation:
        #: a claim, handoff or attempt begun before a revocation may carry its deliveries
        self._revocations = 0
        self._revoked: dict[str, int] = {}
        #: the revocations counted when the worker last began hearing them again: everything
        #: claimed, handed over or begun before it may be of a subscription revoked unheard
        self._revoked_all = 0
        #: set while other processes' revocations reach this worker (see hearing)
        self._hearing = asyncio.Event()
        self._hearing.set()
        #: when the loop last ran (time.monotonic()), and the timer that notes it
        self._awake_at = time.monotonic()
        self._beat: asyncio.TimerHandle | None = None
        #: handoff leases by token: the revocations counted when each was granted
        self._lease_since: dict[str, int] = {}
        self._reserved = 0
        self._stopping = False
        #: the last body rendered, by (organization, event id, profile): a fan-out's deliveries
        #: are one event to many subscriptions, and its body is the same bytes for each
        self._body_key: tuple[str, str, str] | None = None
        self._body = b""
        # per attempt, the counters' children are looked up once, and the gauge of attempts
        # under way is read when scraped rather than moved twice for every attempt
        self._succeeded = metrics.attempts.labels("success")
        self._failed = metrics.attempts.labels("failure")
        self._claims_found = metrics.claims.labels("yes")
        self._claims_empty = metrics.claims.labels("no")
        metrics.in_flight.set_function(lambda: len(self._tasks))
        #: subscriptions' limits kept in the database when several workers may run
        self._limits = (
            SharedLimits(storage=storage, clock=clock, timeout_ms=self._timeout_ms, pump=self._pump)
            if storage.several_workers
            else None
        )

    def wake(self) -> None:
        """Something may be due now (called on publish, or by a database notification)."""
        self._wakeup.set()

    # -- handoff: fresh deliveries of this process's publishes, without a claim ---------------
    def lease(self, wanted: Mapping[str, tuple[Subscription, int]], now_ms: int) -> Lease | None:
        """Reserve room for ``wanted`` (subscription id -> the subscription and how many new
        deliveries it gets) in lanes that could start them at once; the publish writes those
        deliveries leased to us and hands them over with :meth:`take`."""
        if self._stopping or not self._hearing.is_set():
            return None
        room = self._handoff_limit() - self._held - self._reserved
        granted: dict[str, int] = {}
        for sid, (sub, count) in wanted.items():
            if count > room:
                continue
            lane = self._lane(sub)
            if lane.free_slots(now_ms) < count or (lane.rate and count > 1):
                continue
            lane.reserved += count
            granted[sid] = count
            room -= count
        if not granted:
            return None
        token = ids.new_uuid()
        self._reservations[token] = granted
        self._lease_since[token] = self._revocations
        self._reserved += sum(granted.values())
        return Lease(
            token=token, until_ms=now_ms + self._lease_ms, subscription_ids=frozenset(granted)
        )

    async def take(self, lease: Lease, leased: Sequence[ClaimedDelivery]) -> None:
        """The deliveries a publish wrote under ``lease`` (none if its write failed): queue
        them as claimed ones, and free whatever of the reservation they did not use."""
        since = self._lease_since.pop(lease.token, 0)
        for sid, count in self._reservations.pop(lease.token, {}).items():
            self._reserved -= count
            lane = self._lanes.get(sid)
            if lane is not None:
                lane.reserved -= count
        if leased and self._stopping:
            # too late to send them: give them back at once rather than let the lease lapse
            await self._storage.release(
                [c.delivery.id for c in leased], lease.token, self._clock.now_ms()
            )
        elif leased:
            await self._accept(leased, lease.until_ms - self._lease_ms, since)

    def _handoff_limit(self) -> int:
        """How many deliveries the worker may hold once a handoff is counted: what its slots
        start well within a lease at the recent pace of attempts (a fan-out to slow endpoints
        would otherwise wait out its leases in the lanes and be given back), at most
        HANDOFF_HELD; before any attempt has ended, what claims may bring."""
        if self._pace_ms is None:
            return self._max_held
        startable = self._max_in_flight * self._wait_ms / max(self._pace_ms, 1.0)
        return max(self._max_held, min(self._max_handoff, int(startable)))

    def would_claim(self, subscription_ids: Collection[str]) -> bool:
        """Whether a claim now could take due deliveries of any of these subscriptions. Not
        when each has a lane the claims leave out (full, hot or out of rate): the claim loop
        then waits for a slot to free or its own next due time anyway (see _claim_loop)."""
        now = self._clock.now_ms()
        for sid in subscription_ids:
            lane = self._lanes.get(sid)
            if lane is None or lane.wants_claims(now, self._horizon_ms):
                return True
        return False

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def run(self, stop: asyncio.Event) -> None:
        flusher = asyncio.create_task(
            self._outcomes.run(stop, lambda: bool(self._tasks)), name="hookline-flush"
        )
        self._awake_at = time.monotonic()
        self._heartbeat()
        try:
            await self._claim_loop(stop)
        finally:
            if self._beat is not None:
                self._beat.cancel()
            await self._drain()
            self._outcomes.flush()
            await flusher

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        outage_wait_s = 0.0
        while not stop.is_set():
            if not self._hearing.is_set():
                await _wait_any(stop, (self._hearing,), self._poll_s)
                continue
            room = self._room()
            got = 0
            excluded: list[str] = []
            if room > 0:
                self._wakeup.clear()
                self._slot_freed.clear()
                self._lane_freed.clear()
                try:
                    now = self._clock.now_ms()
                    since = self._revocations
                    excluded = self._excluded(now)
                    self._left_out = frozenset(excluded)
                    claimed = await self._storage.claim_due(
                        now, min(room, CLAIM_BATCH), self._lease_ms, excluded
                    )
                    got = len(claimed)
                    (self._claims_found if got else self._claims_empty).inc()
                    await self._accept(claimed, now, since)
                    outage_wait_s = 0.0
                except StorageUnavailable:
                    outage_wait_s = _longer(outage_wait_s)
                    await _wait_any(stop, (), outage_wait_s)
                    continue
                except Exception:
                    log.exception("claim failed; retrying")
                    await _wait_any(stop, (), self._poll_s)
            if got and got == min(room, CLAIM_BATCH):
                continue  # there may be more due right now
            if room <= 0:
                self._slot_freed.clear()
                await _wait_any(stop, (self._slot_freed,), self._poll_s)
                continue
            # a lane left out of the claim may take more as soon as one of its attempts ends;
            # attempts of the other lanes ending change nothing a claim could find
            wake_on = (self._wakeup, self._lane_freed) if excluded else (self._wakeup,)
            await _wait_any(stop, wake_on, await self._idle_wait_s(excluded))

    def _room(self) -> int:
        return min(self._max_held - self._held, self._max_in_flight - len(self._tasks))

    @property
    def _held(self) -> int:
        return len(self._tasks) + self._queued

    async def _idle_wait_s(self, excluded: list[str]) -> float:
        now = self._clock.now_ms()
        try:
            due = await self._storage.next_due_ms(excluded)
        except Exception:
            return self._poll_s
        limited = [ln.limited_until_ms for ln in self._lanes.values() if ln.limited_until_ms > now]
        if limited:
            due = min(limited) if due is None else min(due, *limited)
        if due is None:
            return self._poll_s
        return min(max((due - now) / 1000, MIN_WAIT_S), self._poll_s)

    def _excluded(self, now_ms: int) -> list[str]:
        """Subscriptions the general claim leaves out: hot lanes (they claim for themselves),
        and lanes that are full or out of rate."""
        if len(self._lanes) > MAX_IDLE_LANES:
            self._lanes = {k: ln for k, ln in self._lanes.items() if not ln.is_idle(now_ms)}
        return [
            sid for sid, ln in self._lanes.items() if not ln.wants_claims(now_ms, self._horizon_ms)
        ]

    def _lane(self, sub: Subscription) -> Lane:
        limit = sub.max_in_flight or self._per_sub
        lane = self._lanes.get(sub.id)
        if lane is None:
            cap = lane_cap("probe", limit, self._pools.sizes)
            lane = self._lanes[sub.id] = Lane(subscription=sub, cap=cap, limit=limit)
        elif lane.limit != limit:
            lane.limit, lane.cap = limit, lane_cap(lane.kind, limit, self._pools.sizes)
        # the newest claim carries the subscription as it is now (cap, rate, URL)
        lane.subscription = sub
        if self._limits is not None:
            self._limits.refresh(lane)
        return lane

    async def _accept(
        self, claimed: Sequence[ClaimedDelivery], claimed_at_ms: int, since: int
    ) -> None:
        """Queue claimed deliveries in their lanes and start what may start; give back what
        a lane cannot hold (marking the lane hot: it has more waiting than it may hold).
        ``since``: the revocations counted when the claim began; a subscription revoked since
        has had these deliveries taken away (held or cancelled), and none of them is sent;
        one begun before the worker began hearing revocations again is given back whole."""
        now = self._clock.now_ms()
        if self._revoked_all > since:
            if claimed:
                self._give_back(claimed, now)
            return
        if self._revocations > since:
            claimed = [c for c in claimed if self._revoked.get(c.subscription.id, 0) <= since]
        lease_until = claimed_at_ms + self._lease_ms
        lanes: dict[str, Lane] = {}
        for c in claimed:
            lane = lanes[c.subscription.id] = self._lane(c.subscription)
            lane.queue.append(Held(c, lease_until))
            self._queued += 1
        back: dict[tuple[str, int], list[str]] = {}
        for lane in lanes.values():
            self._pump(lane)
            keep = lane.queue_limit(self._horizon_ms)
            if len(lane.queue) > keep:
                lane.hot = True
                due = max(now, lane.limited_until_ms)
                while len(lane.queue) > keep:
                    c = lane.queue.pop().claimed
                    self._queued -= 1
                    back.setdefault((c.lease_token, due), []).append(c.delivery.id)
        for (token, due_ms), delivery_ids in back.items():
            await self._storage.release(delivery_ids, token, now, due_ms=due_ms)
        if back:
            self._freed()

    def _pump(self, lane: Lane) -> None:
        """Start the lane's waiting deliveries while its cap and rate allow (and the worker
        hears revocations: see hearing)."""
        if not self._check_awake():
            return
        now = self._clock.now_ms()
        late: list[ClaimedDelivery] = []
        kind = lane.kind
        open_ = self._pools.room(kind)
        while open_ > 0 and (held := lane.next_startable(now, self._needed_ms)) is not None:
            self._queued -= 1
            if held.lease_until_ms - now < self._needed_ms:
                late.append(held.claimed)
            else:
                self._spawn(lane, held)
                open_ -= 1
        if open_ <= 0 and lane.queue and lane.busy < lane.cap and not lane.gated:
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
            and len(lane.queue) <= lane.queue_limit(self._horizon_ms) // 2
        ):
            lane.refilling = True
            task = asyncio.create_task(self._refill(lane), name="hookline-refill")
            self._refills.add(task)
            task.add_done_callback(self._refills.discard)
        if lane.shared is not None and self._limits is not None:
            self._limits.after_pump(lane, self._max_in_flight - len(self._tasks), now)

    def _ungate(self) -> None:
        """Start the waiting lanes' attempts, in turn, while their pools allow: fast lanes
        first. A lane whose kind changed while it waited is queued again for its new pool."""
        for kind in KINDS:
            gated = self._gated[kind]
            while gated and self._pools.room(kind) > 0:
                lane = gated.popleft()
                lane.gated = False
                self._pump(lane)

    def _give_back(self, claimed: Sequence[ClaimedDelivery], now_ms: int) -> None:
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
            self._wakeup.set()

        task = asyncio.create_task(release(), name="hookline-give-back")
        self._refills.add(task)
        task.add_done_callback(self._refills.discard)
        self._freed()  # they are no longer held

    def _on_timer(self, lane: Lane) -> None:
        lane.timer = None
        self._pump(lane)

    async def _refill(self, lane: Lane) -> None:
        """A hot lane's own claim: just what it can hold, oldest due first."""
        sub_id = lane.subscription.id
        try:
            now = self._clock.now_ms()
            since = self._revocations
            want = min(
                lane.cap - lane.busy + lane.queue_room(self._horizon_ms),
                self._max_held - self._held,
                REFILL_BATCH,
            )
            if want <= 0:
                # no room (a fan-out handed over whole fills the worker): the general claim
                # serves the lane once there is; left hot with nothing under way, nothing
                # would ever refill it
                lane.hot = False
                self._wakeup.set()
                return
            claimed = await self._storage.claim_due(
                now, want, self._lease_ms, only_subscription=sub_id
            )
            (self._claims_found if claimed else self._claims_empty).inc()
            if len(claimed) < want:
                lane.hot = False  # drained: the general claim serves it again
                self._wakeup.set()
            lane.refilling = False
            await self._accept(claimed, now, since)
        except StorageUnavailable:
            lane.hot = False  # the general claim waits out the outage
        except Exception:
            log.exception("refilling the lane of subscription %s failed", sub_id)
            lane.hot = False
        finally:
            lane.refilling = False

    def _spawn(self, lane: Lane, held: Held) -> None:
        """Start one attempt: written at once to an idle keep-alive connection when there is
        one, its answer then taken by a callback (no task: under load nearly every attempt
        goes this way, and a task with its coroutines cost more than the exchange's own
        Python); otherwise, or when it cannot be sent at all, as a task."""
        claimed = held.claimed
        attempt = _Attempt(lane, held, self._clock.now_ms(), time.monotonic(), self._revocations)
        self._pools.take(attempt.kind)
        try:
            problem = self._prepare(attempt)
            headers = attempt.headers
            if problem is None and headers is not None:
                answer = self._sender.post_at_once(claimed.subscription.url, attempt.body, headers)
                if answer is not None:
                    self._tasks.add(answer)
                    answer.add_done_callback(functools.partial(self._answered, attempt))
                    return
        except Exception:
            # a fault of our own (say, a profile this version does not know): the task tries
            # again, and its end frees the lane's slot and logs what went wrong
            attempt.headers, problem = None, None
        self._start_task(attempt, problem)

    def _start_task(self, attempt: _Attempt, problem: SendResult | None) -> None:
        task = asyncio.create_task(self._deliver(attempt, problem))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._ungate()
        self._freed()
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task failed", exc_info=task.exception())

    async def _deliver(self, attempt: _Attempt, problem: SendResult | None) -> None:
        try:
            if self._revoked.get(attempt.lane.subscription.id, 0) > attempt.since:
                # revoked before the request went out (a task starts a moment after it is
                # made; a stale connection's attempt goes again): it is not sent
                return
            if not self._check_awake() or self._revoked_all > attempt.since:
                # the worker stood still, or stopped hearing revocations, since the attempt
                # was made: its subscription may have been disabled unheard meanwhile
                self._give_back([attempt.claimed], self._clock.now_ms())
                return
            if attempt.headers is None:
                problem = self._prepare(attempt)
            assert attempt.headers is not None
            result = problem or await self._sender.post(
                attempt.claimed.subscription.url,
                attempt.body,
                attempt.headers,
                started=attempt.started,  # a stale connection's attempt keeps its deadline
            )
            self._record(attempt, result)
        finally:
            self._ended(attempt)

    def _answered(self, attempt: _Attempt, answer: asyncio.Future[Response]) -> None:
        """An attempt ``_spawn`` wrote at once has its answer (or failed, or was cancelled)."""
        self._tasks.discard(answer)
        if answer.cancelled():
            # stopping: as a cancelled task, nothing recorded
            self._ended(attempt)
            return
        try:
            result = self._sender.result(answer, attempt.started)
            if result is None and not self._stopping:
                # the idle connection had been closed by the server: nothing was sent, so it
                # goes again as a task, on a new connection, within the attempt's deadline
                # (the slot carries over)
                self._start_task(attempt, None)
                return
            if result is not None:
                self._record(attempt, result)
            # (stopping, and nothing was sent: the lease lapses and the delivery falls due)
        except Exception:
            log.exception("recording an attempt failed")
        self._ended(attempt)

    def _ended(self, attempt: _Attempt) -> None:
        """An attempt is over: its slot frees, the lane's kind follows how long it took, and
        the lane starts what waits."""
        lane = attempt.lane
        now = self._clock.now_ms()
        duration_ms = now - attempt.started_ms
        self._pools.give(attempt.kind)
        lane.attempt_ended(duration_ms)
        kind = classify(lane.average_ms, lane.last_ms, self._pools.sizes.slow_after_ms)
        if kind != lane.kind:
            lane.kind, lane.cap = kind, lane_cap(kind, lane.limit, self._pools.sizes)
        pace = self._pace_ms
        self._pace_ms = duration_ms if pace is None else pace + EWMA_WEIGHT * (duration_ms - pace)
        self._ungate()  # lanes that waited for a slot go first
        self._pump(lane)
        if lane.subscription.id in self._left_out and lane.wants_claims(now, self._horizon_ms):
            self._lane_freed.set()
        self._freed()

    def _freed(self) -> None:
        """Wake the claim loop waiting for room, once there is room: not at every attempt's
        end while a fan-out handed over whole still fills the worker."""
        if self._room() > 0:
            self._slot_freed.set()

    def _prepare(self, attempt: _Attempt) -> SendResult | None:
        """Give the attempt its body and headers; or why it cannot be sent."""
        c = attempt.claimed
        material = outbound.open_material(self._box, c)
        body = attempt.body = self._render(c)
        if material.problem is not None:
            attempt.headers = {}
            return SendResult(status=None, body=None, error=material.problem, duration_ms=0)
        request = outbound.build_request(c, material, body=body, started_ms=attempt.started_ms)
        attempt.body, attempt.headers = request.body, request.headers
        attempt.sent = attempt_headers.sent_headers(request.headers, material.custom_headers)
        return None

    def _render(self, c: ClaimedDelivery) -> bytes:
        event, profile = c.event, c.subscription.profile
        key = (event.organization_id, event.id, profile)
        if key != self._body_key:
            self._body = outbound.render_body(c)
            self._body_key = key
        return self._body

    def _record(self, attempt: _Attempt, result: SendResult) -> None:
        now = self._clock.now_ms()
        record = outbound.outcome_record(
            attempt.claimed,
            body=attempt.body,
            result=result,
            started_ms=attempt.started_ms,
            now_ms=now,
            schedule=self._schedule,
            jitter_ms=self._jitter_ms,
            request_headers=attempt.sent,
        )
        (self._succeeded if record.state == "succeeded" else self._failed).inc()
        self._metrics.attempt_seconds.observe(result.duration_ms / 1000)
        c = attempt.claimed
        self._metrics.subscription_latency(c.subscription.id).observe(result.duration_ms / 1000)
        error = record.attempt.error_detail
        report = self._report
        if report is not None:
            report.tally[record.state] += 1
            if record.state != "succeeded" and log.isEnabledFor(logging.INFO):
                report.failed_attempt(
                    subscription_id=c.subscription.id,
                    event_id=c.event.id,
                    delivery_id=c.delivery.id,
                    attempt=c.delivery.attempts + 1,
                    status=result.status,
                    error=error,
                    next_attempt_at_ms=record.next_attempt_at_ms,
                )
        if self._tracing is not None:
            self._trace(c, result, error, attempt.started_ms, now)
        self._outcomes.add(record, attempt.lease_until_ms)

    def _trace(
        self, c: ClaimedDelivery, result: SendResult, error: str | None, started_ms: int, now: int
    ) -> None:
        assert self._tracing is not None
        attributes: dict[str, Any] = {
            "hookline.subscription_id": c.subscription.id,
            "hookline.delivery_id": c.delivery.id,
            "hookline.attempt": c.delivery.attempts + 1,
        }
        if result.status is not None:
            attributes["http.response.status_code"] = result.status
        self._tracing.attempted(
            c.event.organization_id,
            c.event.id,
            attributes,
            error=error,
            start_ns=started_ms * 1_000_000,
            end_ns=max(now, started_ms + result.duration_ms) * 1_000_000,
        )

    async def _recorded(self, recorded: Recorded) -> None:
        """Outcomes were written: what they disabled sends nothing more."""
        if recorded.disabled:
            Report.disabled(recorded.disabled)
            for d in recorded.disabled:
                self.revoke(d.subscription.id)
        if recorded.disabled and self._on_disabled is not None:
            try:
                await self._on_disabled(recorded.disabled)
            except Exception:
                log.exception("announcing disabled subscriptions failed")

    def revoke(self, sub_id: str) -> None:
        """The subscription was disabled or deleted, by this process or by another (heard
        through the database): nothing more of it starts here. Its storage has made its
        undelivered deliveries held or cancelled, which voids their leases; what waits in its
        lane is dropped, and a claim or attempt begun before now sends none of them. An
        attempt under way finishes, and its outcome is written (see queue_tx.RECORD_OUTCOME)."""
        self._revocations += 1
        self._revoked.pop(sub_id, None)
        self._revoked[sub_id] = self._revocations
        if len(self._revoked) > MAX_REVOKED:
            del self._revoked[next(iter(self._revoked))]
        self._drop_queued([sub_id])

    def hearing(self, up: bool) -> None:
        """Whether other processes' revocations reach this worker (its storage's listener is
        up, see storage/revocations.py). A disabling request waits only for the workers it
        finds listening: one that is not (starting, or re-connecting) would not hear it, so
        while it is not the worker starts no attempt and claims nothing. Once it hears again,
        whatever it holds unsent, or claims with a claim begun before, may be of a
        subscription disabled meanwhile: all of it is given back, to be claimed again as the
        database now has it (a disabled subscription's deliveries are held, not due)."""
        if not up:
            self._hearing.clear()
        elif not self._hearing.is_set():
            self._hearing.set()
            self._give_back_all("held while revocations could not be heard")

    def _heartbeat(self) -> None:
        self._check_awake()
        self._beat = asyncio.get_running_loop().call_later(BEAT_S, self._heartbeat)

    def _check_awake(self) -> bool:
        """Whether attempts may start: the worker hears revocations, and has not just woken
        from standing still. A disabling request waits for a stopped worker (SIGSTOP, a
        starved machine) for ACK_WAIT_S at most, then answers; when the worker runs again,
        what woke it (an attempt's answer, a timer) may come before the revocation it did
        not answer. So a worker that stood still gives back all it holds first: a
        subscription disabled meanwhile has its deliveries held in the database, and they
        are not claimed again."""
        now = time.monotonic()
        stalled_s = now - self._awake_at
        self._awake_at = now
        if not self._hearing.is_set():
            return False
        if stalled_s > STALL_S:
            self._give_back_all(f"the worker stood still for {stalled_s:.1f} s")
        return True

    def _give_back_all(self, why: str) -> None:
        """Give back every delivery held unsent, and those of any claim, handoff or refill
        begun before now (see _accept): a subscription may have been revoked unheard."""
        self._revocations += 1
        self._revoked_all = self._revocations
        back: list[ClaimedDelivery] = []
        for lane in self._lanes.values():
            if lane.timer is not None:
                lane.timer.cancel()
                lane.timer = None
            lane.gated = lane.hot = False
            back += [held.claimed for held in lane.queue]
            lane.queue.clear()
        for gated in self._gated.values():
            gated.clear()
        self._queued = 0
        if back:
            log.info("%d deliveries given back: %s", len(back), why)
            self._give_back(back, self._clock.now_ms())
        self._wakeup.set()

    def _drop_queued(self, sub_ids: Sequence[str]) -> None:
        """Forget what waits unsent in the lanes of subscriptions just disabled: the storage
        made those deliveries held (their leases are gone), and a held one is never sent."""
        for sid in sub_ids:
            lane = self._lanes.get(sid)
            if lane is not None and lane.queue:
                self._queued -= len(lane.queue)
                lane.queue.clear()
                lane.hot = False

    async def _drain(self) -> None:
        """Let attempts under way finish (for a while), and give back what waits unsent."""
        self._stopping = self._outcomes.stopping = True
        for lane in self._lanes.values():
            lane.hot = False
        if self._refills:
            await asyncio.wait(self._refills)
        waiting: dict[str, list[str]] = {}
        for lane in self._lanes.values():
            if lane.timer is not None:
                lane.timer.cancel()
                lane.timer = None
            lane.gated = False
            while lane.queue:
                c = lane.queue.popleft().claimed
                waiting.setdefault(c.lease_token, []).append(c.delivery.id)
        self._queued = 0
        for gated in self._gated.values():
            gated.clear()
        # attempts under way may finish within the grace period; each wait is over a snapshot,
        # and an attempt can start another (a stale connection's second try), hence the loops
        loop = asyncio.get_running_loop()
        grace_until = loop.time() + STOP_GRACE_S
        while self._tasks and (left := grace_until - loop.time()) > 0:
            await asyncio.wait(set(self._tasks), timeout=left)
        while self._tasks:
            late = set(self._tasks)
            for task in late:
                task.cancel()
            await asyncio.wait(late)
        if self._limits is not None:
            await self._limits.close(list(self._lanes.values()))
        now = self._clock.now_ms()
        for token, delivery_ids in waiting.items():
            try:
                await self._storage.release(delivery_ids, token, now)
            except StorageUnavailable:
                pass  # their leases lapse, and they fall due again
            except Exception:
                log.exception("giving back %d deliveries failed", len(delivery_ids))


class _Attempt:
    """One attempt under way: its lane, its delivery, when it began (the clock's time, and
    ``time.monotonic()`` for its deadline), and what is sent once prepared."""

    __slots__ = (
        "body",
        "claimed",
        "headers",
        "kind",
        "lane",
        "lease_until_ms",
        "sent",
        "since",
        "started",
        "started_ms",
    )

    def __init__(self, lane: Lane, held: Held, started_ms: int, started: float, since: int) -> None:
        self.lane = lane
        #: the pool whose slot it holds: its lane's kind when it started
        self.kind: Kind = lane.kind
        self.claimed = held.claimed
        self.lease_until_ms = held.lease_until_ms
        #: the revocations counted when it began (see Dispatcher.revoke)
        self.since = since
        self.started_ms = started_ms
        self.started = started
        self.body = b""
        #: None until prepared
        self.headers: dict[str, str] | None = None
        #: the headers as logged, secrets masked (see ``core.attempt_headers``)
        self.sent: str | None = None


def _longer(wait_s: float) -> float:
    """The next wait of an outage's backoff."""
    return min(max(wait_s * 2, OUTAGE_WAIT_S), OUTAGE_WAIT_MAX_S)


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
