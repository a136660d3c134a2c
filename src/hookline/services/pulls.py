"""Pull subscriptions: a consumer leases due deliveries over the API and acknowledges them.

A pull lease is a claim of one subscription's due deliveries (``Storage.claim_due`` with
``only_subscription``), answered with each request rendered and signed exactly as a worker
would POST it (``outbound``); an acknowledgement is recorded as a worker records an answer,
retry schedule included. An unacknowledged lease runs out and the delivery falls due again.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence

from hookline.core.frozen import frozen
from hookline.core.models import ClaimedDelivery
from hookline.core.outcome import SendResult
from hookline.services import outbound
from hookline.services.clock import Clock
from hookline.services.principal import Principal
from hookline.services.secretbox import SecretBox
from hookline.services.subscriptions import SubscriptionService
from hookline.storage.base import Storage
from hookline.storage.records import Disabled, OutcomeRecord

MAX_PULL = 100  # deliveries one pull may lease
MAX_WAIT_S = 30.0  # the longest a pull may wait for a delivery
#: a waiting pull looks again this often even if nothing woke it: a lease that ran out or a
#: retry that fell due wakes no one
RECHECK_S = 5.0
MAX_JITTER_MS = 1000  # added to retries, as the worker does
MAX_ERROR_CHARS = 500  # of a consumer's error text kept in the log


@frozen
class Pulled:
    """One leased delivery, as its profile would POST it."""

    delivery_id: str
    lease: str
    #: which attempt this is (1 for the first)
    attempt: int
    event_id: str
    event_type: str
    headers: dict[str, str]
    body: bytes


@frozen
class Ack:
    """A consumer's outcome of one pulled delivery."""

    delivery_id: str
    lease: str
    #: the receiver's HTTP status, or None when there was no answer (then ``error`` says why)
    status: int | None
    body: str | None = None
    error: str | None = None


class PullWaiters:
    """Wakes the pulls waiting in this process when deliveries may have fallen due.

    A pull takes a ``ticket`` before it looks for due deliveries and waits on that ticket: a
    wake-up that comes while it looks (a publish during its claim) is not lost."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        #: pulls waiting now (the ``hookline_pulls_waiting`` gauge)
        self.waiting = 0

    def ticket(self) -> asyncio.Event:
        return self._event

    def wake(self) -> None:
        # set the tickets given so far; later ones are a fresh event
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, ticket: asyncio.Event, timeout_s: float) -> None:
        self.waiting += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ticket.wait(), timeout_s)
        finally:
            self.waiting -= 1


class PullService:
    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        box: SecretBox,
        subscriptions: SubscriptionService,
        *,
        waiters: PullWaiters,
        schedule: Sequence[int],
        lease_s: float,
        disable_after_s: int | None,
        on_disabled: Callable[[Sequence[Disabled]], Awaitable[None]] | None = None,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._box = box
        self._subscriptions = subscriptions
        self._schedule = tuple(schedule)
        self._lease_ms = int(lease_s * 1000)
        self._disable_after_ms = disable_after_s * 1000 if disable_after_s else None
        self._on_disabled = on_disabled
        self._rng = random.Random()
        self.waiters = waiters
        self._start_hearing: Callable[[], None] | None = None

    def wake(self) -> None:
        """Deliveries may have fallen due (a publish here, or another process's notice)."""
        self.waiters.wake()

    def hear_others_with(self, start: Callable[[], None]) -> None:
        """``start`` begins hearing other processes' publishes (``Storage.watch``, calling
        ``wake``): called at the first pull that waits, so that a process no consumer pulls
        from keeps no listening connection for it."""
        self._start_hearing = start

    async def pull(
        self,
        principal: Principal,
        sub_id: str,
        max_count: int,
        wait_s: float,
        gone: Callable[[], Awaitable[bool]] | None = None,
    ) -> list[Pulled]:
        """Lease up to ``max_count`` due deliveries, waiting up to ``wait_s`` for the first.
        ``gone`` says whether the consumer has stopped waiting for the answer: nothing is
        leased then (its deliveries would wait out a lease no one holds)."""
        sub = await self._subscriptions.get_pull(principal, sub_id)
        if wait_s > 0 and self._start_hearing is not None:
            start, self._start_hearing = self._start_hearing, None
            start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            ticket = self.waiters.ticket()
            found = await self._lease(sub.id, max_count)
            left = deadline - loop.time()
            if found or left <= 0:
                return found
            await self.waiters.wait(ticket, min(left, RECHECK_S))
            if gone is not None and await gone():
                return []

    async def _lease(self, sub_id: str, max_count: int) -> list[Pulled]:
        now = self._clock.now_ms()
        claimed = await self._storage.claim_due(
            now, max_count, self._lease_ms, only_subscription=sub_id
        )
        out: list[Pulled] = []
        unsendable: list[OutcomeRecord] = []
        for c in claimed:
            material = outbound.open_material(self._box, c)
            body = outbound.render_body(c)
            if material.problem is not None:
                # as a worker would: an attempt that could not be made, on the schedule
                result = SendResult(status=None, body=None, error=material.problem, duration_ms=0)
                unsendable.append(self._outcome(c, now, result, body=body))
                continue
            request = outbound.build_request(c, material, body=body, started_ms=now)
            out.append(
                Pulled(
                    delivery_id=c.delivery.id,
                    lease=c.lease_token,
                    attempt=c.delivery.attempts + 1,
                    event_id=c.event.id,
                    event_type=c.event.type,
                    headers=request.headers,
                    body=request.body,
                )
            )
        if unsendable:
            recorded = await self._storage.record_outcomes(unsendable, self._disable_after_ms)
            await self._announce(recorded.disabled)
        return out

    async def ack(self, principal: Principal, sub_id: str, acks: Sequence[Ack]) -> list[bool]:
        """Record each outcome whose lease is still held; say, per ack, whether it was."""
        sub = await self._subscriptions.get_pull(principal, sub_id)
        # a delivery acknowledged twice in one call: the first counts, the repeat is refused
        by_id: dict[str, Ack] = {}
        for a in acks:
            by_id.setdefault(a.delivery_id, a)

        def outcome(c: ClaimedDelivery, leased_ms: int) -> OutcomeRecord:
            a = by_id[c.delivery.id]
            error = a.error[:MAX_ERROR_CHARS] if a.error else None
            result = SendResult(
                status=a.status,
                body=a.body,
                error=error if a.status is None else None,
                duration_ms=max(now - leased_ms, 0),
            )
            return self._outcome(c, leased_ms, result, body=outbound.render_body(c))

        now = self._clock.now_ms()
        leases = [(a.delivery_id, a.lease) for a in by_id.values()]
        recorded = await self._storage.record_pulled(
            sub.id, leases, now, outcome, self._disable_after_ms
        )
        await self._announce(recorded.disabled)
        return [a.delivery_id in recorded.recorded and by_id[a.delivery_id] is a for a in acks]

    async def release(
        self, principal: Principal, sub_id: str, leases: Sequence[tuple[str, str]]
    ) -> None:
        """Hand back leased deliveries unsent: due again at once, no attempt counted."""
        await self._subscriptions.get_pull(principal, sub_id)
        # a lease token is known only to the consumer it was given to, and covers only this
        # subscription's deliveries: a token that is not held gives nothing back
        by_token: dict[str, list[str]] = {}
        for delivery_id, token in leases:
            by_token.setdefault(token, []).append(delivery_id)
        now = self._clock.now_ms()
        for token, delivery_ids in by_token.items():
            await self._storage.release(delivery_ids, token, now)
        if leases:
            self.waiters.wake()

    def _outcome(
        self, c: ClaimedDelivery, started_ms: int, result: SendResult, *, body: bytes
    ) -> OutcomeRecord:
        return outbound.outcome_record(
            c,
            body=body,
            result=result,
            started_ms=started_ms,
            now_ms=self._clock.now_ms(),
            schedule=self._schedule,
            jitter_ms=lambda: self._rng.randrange(MAX_JITTER_MS),
        )

    async def _announce(self, disabled: Sequence[Disabled]) -> None:
        if disabled and self._on_disabled is not None:
            await self._on_disabled(disabled)
