"""Bounds on the sends a process makes now, outside the queue: test sends, replays and
incoming calls.

Each of them holds an HTTP connection (the worker's, in ``serve``) for as long as the other
end takes to answer, up to the timeout. Unbounded, one tenant's few hundred test sends to a
URL that hangs would hold every connection and stall every other tenant's sends and
deliveries. So a send starts only within three bounds, and one past any of them is refused
at once (429, with a Retry-After of one timeout, by when those under way have ended) rather
than queued: for its subscription (or phone number), its subscription's cap; for its
caller (an agent identity's keys, or the organization's admin keys), a share of the
process's total; and for the process, a quarter of the worker's slots, which the HTTP client
keeps room for on top of the worker's own.

A subscription's cap counts its worker attempts and its direct sends together, when the
process runs a worker (``serve``): the worker's attempts of it under way count against a
send, and its sends under way against the worker's attempts (``SendLimits.to_subscription``,
which the worker's lanes read). On a database several processes share (PostgreSQL), a send
to a subscription that sets its own limits also takes a slot of them in the database, as
every worker's attempts do (``shared_slot``): a send from an API process counts against the
workers' attempts, and theirs against it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass
from typing import Protocol

from hookline.core import ids
from hookline.core.errors import StorageUnavailable, TooManyRequests
from hookline.core.models import Subscription
from hookline.services.clock import Clock
from hookline.storage.records import HOLD_MARGIN_MS, LimitGrant
from hookline.storage.roles.deliveries import Deliveries

#: direct sends under way in a process, at most, are this fraction of the worker's slots
TOTAL_DIVISOR = 4
#: one caller may hold this fraction of the process's total: several tenants at their bound
#: still leave room for the others
CALLER_DIVISOR = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class SendBounds:
    #: direct sends under way in this process at most
    total: int
    #: of which one caller's (a group of keys: see ``SendLimits.slot``) at most
    per_caller: int
    #: what a refused caller is told to wait (seconds): one timeout
    retry_after_s: int


def bounds(max_in_flight: int, timeout_s: float) -> SendBounds:
    """The bounds of a process whose worker has ``max_in_flight`` slots and whose sends time
    out after ``timeout_s``."""
    total = max(1, max_in_flight // TOTAL_DIVISOR)
    return SendBounds(
        total=total,
        per_caller=max(1, total // CALLER_DIVISOR),
        retry_after_s=max(1, math.ceil(timeout_s)),
    )


def refusal(
    b: SendBounds, *, total: int, caller: int, key: int, key_cap: int, what: str
) -> str | None:
    """Why one more send may not start, with ``total``, ``caller`` and ``key`` (its
    subscription's or number's) sends under way; None when it may. ``what`` names the key."""
    if key >= key_cap:
        return f"{key_cap} sends to {what} are under way, its most at once; try again later"
    if caller >= b.per_caller:
        return (
            f"{b.per_caller} test sends and replays of this caller are under way, its most "
            "at once; try again later"
        )
    if total >= b.total:
        return (
            "this server is making as many test sends, replays and calls as it may; try again later"
        )
    return None


class Worker(Protocol):
    """The worker of this process, as its subscriptions' caps see it (delivery/dispatcher.py)."""

    def attempts_of(self, subscription_id: str) -> int:
        """Its attempts of the subscription under way."""

    def send_ended(self, subscription_id: str) -> None:
        """A direct send to the subscription ended: one of its attempts may start."""


class SendLimits:
    """Counts the direct sends under way in this process, against :class:`SendBounds`."""

    def __init__(self, send_bounds: SendBounds) -> None:
        self.bounds = send_bounds
        self._total = 0
        self._by_caller: dict[str, int] = {}
        self._by_key: dict[str, int] = {}
        #: sends under way by subscription id, which the worker counts with its own attempts
        self.to_subscription: dict[str, int] = {}
        self._worker: Worker | None = None

    def share_with(self, worker: Worker | None) -> None:
        """Count subscriptions' sends with ``worker``'s attempts (None: no worker runs)."""
        self._worker = worker

    @contextlib.contextmanager
    def slot(
        self,
        caller: str,
        key: str,
        key_cap: int,
        *,
        what: str,
        subscription_id: str | None = None,
    ) -> Iterator[None]:
        """Hold one send's place for the block; raise ``TooManyRequests`` if there is none.
        ``caller`` groups the keys of one tenant, ``key`` is what is sent to (at most
        ``key_cap`` at once, the worker's attempts of ``subscription_id`` counted in).
        Counting is synchronous: two callers never both take the last place."""
        under_way = self._by_key.get(key, 0)
        worker = self._worker
        if subscription_id is not None and worker is not None:
            under_way += worker.attempts_of(subscription_id)
        reason = refusal(
            self.bounds,
            total=self._total,
            caller=self._by_caller.get(caller, 0),
            key=under_way,
            key_cap=key_cap,
            what=what,
        )
        if reason is not None:
            raise TooManyRequests(reason, self.bounds.retry_after_s)
        self._total += 1
        _increment(self._by_caller, caller)
        _increment(self._by_key, key)
        if subscription_id is not None:
            _increment(self.to_subscription, subscription_id)
        try:
            yield
        finally:
            self._total -= 1
            _decrement(self._by_caller, caller)
            _decrement(self._by_key, key)
            if subscription_id is not None:
                _decrement(self.to_subscription, subscription_id)
                if self._worker is not None:
                    self._worker.send_ended(subscription_id)

    @property
    def in_flight(self) -> int:
        return self._total


def _increment(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]  # no entry kept for what has nothing under way


@contextlib.asynccontextmanager
async def shared_slot(
    storage: Deliveries, clock: Clock, sub: Subscription, timeout_s: int
) -> AsyncIterator[None]:
    """Hold one of ``sub``'s slots in the database for the block, when several processes
    share it and ``sub`` sets its own limits (storage/limits_sql.py), as a worker's attempt
    does; raise ``TooManyRequests`` if its cap or its rate has none now. A send that ends
    gives its slot back; one whose process dies, once ``timeout_s`` and a margin have passed."""
    limits = (sub.max_in_flight, sub.rate_limit_per_second)
    if not storage.several_workers or limits == (None, None):
        yield
        return
    holder = ids.new_uuid()  # its own hold, as a worker has (limit_holds.holder)

    def take(wanted: int, released: int, hold_ms: int) -> Awaitable[LimitGrant]:
        return storage.take_limits(
            sub.id,
            holder,
            wanted=wanted,
            released=released,
            max_in_flight=sub.max_in_flight,
            rate_per_s=sub.rate_limit_per_second,
            now_ms=clock.now_ms(),
            hold_ms=hold_ms,
        )

    grant = await take(1, 0, timeout_s * 1000 + HOLD_MARGIN_MS)
    if grant.granted < 1:
        if grant.full:
            raise TooManyRequests(
                f"{sub.max_in_flight} sends to this subscription are under way, its most at "
                "once (its deliveries on every worker counted); try again later",
                timeout_s,
            )
        wait_s = max(1, math.ceil((grant.rate_wait_ms or 1000) / 1000))
        raise TooManyRequests(
            "this subscription's rate limit allows no more sends now; try again later", wait_s
        )
    try:
        yield
    finally:
        if sub.max_in_flight is not None:  # a rate alone holds no slot
            with contextlib.suppress(StorageUnavailable):  # then the hold runs out by itself
                await take(0, 1, 0)
