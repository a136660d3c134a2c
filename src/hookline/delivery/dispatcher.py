"""The dispatcher: claim due deliveries, send them within capacity, write outcomes in batches.

No database transaction is held across an HTTP call: a delivery is leased (claimed) in one
short transaction, sent, and its outcome written in another. A worker that dies leaves
leases that expire, and its deliveries fall due again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence

from hookline import __version__
from hookline.core import ids, profiles
from hookline.core.models import Attempt, ClaimedDelivery
from hookline.core.outcome import SendResult, classify
from hookline.core.ratelimit import admit
from hookline.core.retry import decide
from hookline.delivery.sender import Sender
from hookline.metrics import Metrics
from hookline.services.clock import Clock
from hookline.services.secretbox import SecretBox
from hookline.storage.base import Disabled, OutcomeRecord, Storage

log = logging.getLogger("hookline.worker")

USER_AGENT = f"Hookline/{__version__}"
CLAIM_BATCH = 200  # deliveries leased per claim
LEASE_MARGIN_MS = 10_000  # lease = attempt timeout + this room to write the outcome
FLUSH_BATCH = 200  # outcomes written per transaction at most
FLUSH_INTERVAL_S = 0.02  # how long an outcome may wait to be batched with others
MAX_JITTER_MS = 1000  # added to retries, never subtracted
STOP_GRACE_S = 10.0  # how long a stopping worker lets in-flight attempts finish
MIN_WAIT_S = 0.005  # never spin: a due row another worker holds needs a moment
MAX_LIMITERS = 10_000  # rate limiter states kept before idle ones are dropped


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
        # a leased delivery is sent at once (never queued behind its subscription's cap), so
        # the lease only has to outlive one attempt and the write of its outcome
        self._lease_ms = int(timeout_s * 1000) + LEASE_MARGIN_MS
        self._wakeup = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        #: attempts under way per subscription, and each one's cap
        self._per_sub_busy: dict[str, int] = {}
        self._per_sub_cap: dict[str, int] = {}
        #: rate-limited subscriptions: each limiter's state, and those out of room until when
        self._tat: dict[str, float] = {}
        self._limited_until: dict[str, int] = {}
        self._pending: list[OutcomeRecord] = []
        self._flush_needed = asyncio.Event()
        self._rng = random.Random()

    def wake(self) -> None:
        """Something may be due now (called on publish, or by a database notification)."""
        self._wakeup.set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def run(self, stop: asyncio.Event) -> None:
        flusher = asyncio.create_task(self._flush_loop(stop), name="hookline-flush")
        try:
            await self._claim_loop(stop)
        finally:
            await self._drain()
            self._flush_needed.set()
            await flusher

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            free = self._max_in_flight - len(self._tasks)
            got = 0
            excluded: list[str] = []
            if free > 0:
                self._wakeup.clear()
                self._slot_freed.clear()
                try:
                    excluded = self._excluded(self._clock.now_ms())
                    claimed = await self._storage.claim_due(
                        self._clock.now_ms(), min(free, CLAIM_BATCH), self._lease_ms, excluded
                    )
                    got = len(claimed)
                    await self._start(claimed)
                except Exception:
                    log.exception("claim failed; retrying")
                    await _wait_any(stop, (), self._poll_s)
            if got and got == min(free, CLAIM_BATCH):
                continue  # there may be more due right now
            if free <= 0:
                self._slot_freed.clear()
                await _wait_any(stop, (self._slot_freed,), self._poll_s)
                continue
            # a subscription at its cap may take more as soon as one of its attempts ends
            wake_on = (self._wakeup, self._slot_freed) if excluded else (self._wakeup,)
            await _wait_any(stop, wake_on, await self._idle_wait_s(excluded))

    async def _idle_wait_s(self, excluded: list[str]) -> float:
        now = self._clock.now_ms()
        try:
            due = await self._storage.next_due_ms(excluded)
        except Exception:
            return self._poll_s
        if self._limited_until:
            soonest = min(self._limited_until.values())
            due = soonest if due is None else min(due, soonest)
        if due is None:
            return self._poll_s
        return min(max((due - now) / 1000, MIN_WAIT_S), self._poll_s)

    def _excluded(self, now_ms: int) -> list[str]:
        """Subscriptions not to claim for now: at their in-flight cap, or out of rate."""
        out = [sub for sub, busy in self._per_sub_busy.items() if busy >= self._per_sub_cap[sub]]
        if self._limited_until:
            for sub, until in list(self._limited_until.items()):
                if until <= now_ms:
                    del self._limited_until[sub]
                else:
                    out.append(sub)
        if len(self._tat) > MAX_LIMITERS:
            # a limiter whose next slot is already past is the same as a fresh one
            self._tat = {sub: tat for sub, tat in self._tat.items() if tat > now_ms}
        return out

    async def _start(self, claimed: list[ClaimedDelivery]) -> None:
        """Send what fits under each subscription's cap and rate now; give the rest back."""
        now = self._clock.now_ms()
        later: dict[tuple[str, int], list[str]] = {}
        for c in claimed:
            sub = c.subscription
            cap = sub.max_in_flight or self._per_sub
            busy = self._per_sub_busy.get(sub.id, 0)
            if busy >= cap:
                later.setdefault((c.lease_token, now), []).append(c.delivery.id)
                continue
            if sub.rate_limit_per_second:
                admission = admit(self._tat.get(sub.id), now, sub.rate_limit_per_second)
                if not admission.allowed:
                    until = now + admission.retry_in_ms
                    self._limited_until[sub.id] = until
                    later.setdefault((c.lease_token, until), []).append(c.delivery.id)
                    continue
                self._tat[sub.id] = admission.tat_ms
            self._per_sub_busy[sub.id] = busy + 1
            self._per_sub_cap[sub.id] = cap
            self._spawn(c)
        for (token, due_ms), delivery_ids in later.items():
            await self._storage.release(delivery_ids, token, now, due_ms=due_ms)

    def _spawn(self, claimed: ClaimedDelivery) -> None:
        task = asyncio.create_task(self._deliver(claimed))
        self._tasks.add(task)
        self._metrics.in_flight.inc()
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._metrics.in_flight.dec()
        self._slot_freed.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task failed", exc_info=task.exception())

    async def _deliver(self, c: ClaimedDelivery) -> None:
        sub = c.subscription
        try:
            started_ms = self._clock.now_ms()
            body, result = await self._send(c, started_ms)
            self._record(c, body, result, started_ms)
        finally:
            left = self._per_sub_busy.get(sub.id, 1) - 1
            if left <= 0:
                self._per_sub_busy.pop(sub.id, None)
                self._per_sub_cap.pop(sub.id, None)
            else:
                self._per_sub_busy[sub.id] = left

    async def _send(self, c: ClaimedDelivery, started_ms: int) -> tuple[bytes, SendResult]:
        sub, event = c.subscription, c.event
        try:
            secrets = [self._box.open(x) for x in c.secret_ciphertexts]
            auth = self._box.open(c.auth_token_ciphertext) if c.auth_token_ciphertext else None
        except RuntimeError as exc:
            secrets, auth, problem = [], None, str(exc)
        else:
            problem = "no signing key is configured for this subscription's owner"
        if not secrets:
            body = profiles.render_body(
                sub.profile,
                event_id=event.id,
                event_type=event.type,
                occurred_at_ms=event.occurred_at_ms,
                data=event.data,
            )
            return body, SendResult(status=None, body=None, error=problem, duration_ms=0)
        request = profiles.build_request(
            sub.profile,
            event_id=event.id,
            event_type=event.type,
            occurred_at_ms=event.occurred_at_ms,
            data=event.data,
            secrets=secrets,
            attempt=profiles.AttemptIdentity(
                timestamp_s=started_ms // 1000, request_id=ids.new_request_id()
            ),
            custom_headers=sub.headers,
            user_agent=USER_AGENT,
            auth_token=auth,
        )
        return request.body, await self._sender.post(sub.url, request.body, request.headers)

    def _record(self, c: ClaimedDelivery, body: bytes, result: SendResult, started_ms: int) -> None:
        now = self._clock.now_ms()
        outcome = classify(
            status=result.status,
            error=result.error,
            retry_after=result.retry_after,
            now_s=now / 1000,
        )
        first = c.delivery.first_attempt_at_ms or started_ms
        decision = decide(
            outcome,
            schedule=c.subscription.retry_schedule or self._schedule,
            attempts_made=c.delivery.attempts + 1,
            first_attempt_at_ms=first,
            now_ms=now,
            jitter_ms=self._rng.randrange(MAX_JITTER_MS),
        )
        self._metrics.attempts.labels("success" if outcome.success else "failure").inc()
        self._metrics.attempt_seconds.observe(result.duration_ms / 1000)
        self._pending.append(
            OutcomeRecord(
                delivery_id=c.delivery.id,
                lease_token=c.lease_token,
                attempt=Attempt(
                    id=ids.new_uuid(),
                    organization_id=c.delivery.organization_id,
                    delivery_id=c.delivery.id,
                    subscription_id=c.subscription.id,
                    phone_number_id=c.subscription.phone_number_id,
                    event_id=c.event.id,
                    event_type=c.event.type,
                    url=c.subscription.url,
                    request_payload=body.decode("utf-8", errors="replace"),
                    response_status=result.status,
                    response_body=result.body,
                    error_detail=outcome.error,
                    duration_ms=result.duration_ms,
                    is_replay=False,
                    created_at_ms=started_ms,
                ),
                state=decision.state,
                next_attempt_at_ms=decision.next_attempt_at_ms,
                first_attempt_at_ms=first,
                disable_subscription_reason=decision.disable_reason,
            )
        )
        if len(self._pending) >= FLUSH_BATCH:
            self._flush_needed.set()
        elif len(self._pending) == 1:
            asyncio.get_running_loop().call_later(FLUSH_INTERVAL_S, self._flush_needed.set)

    async def _flush_loop(self, stop: asyncio.Event) -> None:
        while True:
            await self._flush_needed.wait()
            self._flush_needed.clear()
            while self._pending:
                batch, self._pending = self._pending[:FLUSH_BATCH], self._pending[FLUSH_BATCH:]
                # an outcome that is not written is an attempt sent twice: shield the write
                await asyncio.shield(self._write(batch))
            if stop.is_set() and not self._tasks:
                return

    async def _write(self, batch: list[OutcomeRecord]) -> None:
        for delay in (0.0, 0.1, 0.5, 1.0, 2.0, 5.0):
            if delay:
                await asyncio.sleep(delay)
            try:
                recorded = await self._storage.record_outcomes(batch, self._disable_after_ms)
            except Exception:
                log.exception("writing %d outcomes failed; retrying", len(batch))
                continue
            if recorded.disabled and self._on_disabled is not None:
                try:
                    await self._on_disabled(recorded.disabled)
                except Exception:
                    log.exception("announcing disabled subscriptions failed")
            return
        log.error("gave up writing %d outcomes; their leases will expire and retry", len(batch))

    async def _drain(self) -> None:
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=STOP_GRACE_S)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)


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
