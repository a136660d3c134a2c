"""What a worker knows of revocations: subscriptions disabled or deleted (by this process or,
heard through the database, by another), and whether it can hear them at all.

Work that may carry a subscription's deliveries (a claim, a handoff, an attempt) notes the
count of revocations when it begins (``count``); once it ends, ``revoked_after`` tells whether
its subscription was revoked meanwhile. A worker that could not hear revocations for a while
(its listener down, or the process stood still) gives back everything it holds unsent: a
subscription may have been revoked unheard, and its deliveries are held in the database now.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from hookline.storage.revocations import ACK_WAIT_S

MAX_REVOKED = 10_000  # revocations remembered; they matter for seconds at most
#: a worker whose loop stood still this long (the process stopped, or starved) may have let
#: a disabling request wait out its answer: it gives back all it holds (see check_awake).
#: Well under the request's wait, so that any worker it gave up on notices.
STALL_S = ACK_WAIT_S / 2
BEAT_S = STALL_S / 4  # how often the loop notes it is running


class Revocations:
    """``give_back_all(why)`` is the dispatcher's: it gives back all the worker holds unsent
    (after ``all_given_back``). ``monotonic`` is the clock of stalls (tests replace it)."""

    def __init__(
        self,
        give_back_all: Callable[[str], None],
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._give_back_all = give_back_all
        self._monotonic = monotonic
        #: revocations so far, and per subscription revoked the count after its revocation
        self.count = 0
        self._by_subscription: dict[str, int] = {}
        #: the count when the worker last gave back all it held: everything claimed, handed
        #: over or begun before it may be of a subscription revoked unheard
        self.all_at = 0
        #: set while other processes' revocations reach this worker
        self.hearing = asyncio.Event()
        self.hearing.set()
        #: when the loop last ran, and the timer that notes it
        self._awake_at = monotonic()
        self._beat: asyncio.TimerHandle | None = None

    def revoke(self, sub_id: str) -> None:
        self.count += 1
        self._by_subscription.pop(sub_id, None)
        self._by_subscription[sub_id] = self.count
        if len(self._by_subscription) > MAX_REVOKED:
            del self._by_subscription[next(iter(self._by_subscription))]

    def revoked_after(self, sub_id: str, since: int) -> bool:
        """Whether the subscription was revoked after the count was ``since``."""
        return self._by_subscription.get(sub_id, 0) > since

    def all_given_back(self) -> None:
        """Everything held unsent is given back now: work begun before is void."""
        self.count += 1
        self.all_at = self.count

    def check_awake(self) -> bool:
        """Whether attempts may start: the worker hears revocations, and has not just woken
        from standing still. A disabling request waits for a stopped worker (SIGSTOP, a
        starved machine) for ACK_WAIT_S at most, then answers; when the worker runs again,
        what woke it (an attempt's answer, a timer) may come before the revocation it did
        not answer. So a worker that stood still gives back all it holds first: a
        subscription disabled meanwhile has its deliveries held in the database, and they
        are not claimed again."""
        now = self._monotonic()
        stalled_s = now - self._awake_at
        self._awake_at = now
        if not self.hearing.is_set():
            return False
        if stalled_s > STALL_S:
            self._give_back_all(f"the worker stood still for {stalled_s:.1f} s")
        return True

    def heard(self, up: bool) -> None:
        """Whether revocations reach the worker (see ``Dispatcher.hearing``): once they do
        again, all it holds is given back."""
        if not up:
            self.hearing.clear()
        elif not self.hearing.is_set():
            self.hearing.set()
            self._give_back_all("held while revocations could not be heard")

    def start_beating(self) -> None:
        """Note the loop running every BEAT_S, until ``stop_beating``."""
        self._awake_at = self._monotonic()
        self._heartbeat()

    def _heartbeat(self) -> None:
        self.check_awake()
        self._beat = asyncio.get_running_loop().call_later(BEAT_S, self._heartbeat)

    def stop_beating(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
            self._beat = None
