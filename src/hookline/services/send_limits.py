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
which the worker's lanes read).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from hookline.core.errors import TooManyRequests

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
