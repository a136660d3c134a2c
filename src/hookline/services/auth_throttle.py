"""Failed API-key authentications, limited per client address.

A caller that keeps presenting wrong keys is guessing. Each address has a token bucket
(``core.ratelimit``'s GCRA with a capacity) that only failures draw from; once it is empty,
every request of that address that carries a key is refused with 429 before the key is
looked at, until the bucket has refilled enough for one more failure. Refusing before the
check matters: answering a right guess while refusing wrong ones would let the guessing go
on at full speed. Successful requests draw nothing, so a well-behaved client never waits.

The state lives in this process's memory only: each API process limits on its own.
"""

from __future__ import annotations

import math

from hookline.core import ratelimit

FAILURES_PER_WINDOW = 20  # failures an address may make at once after a quiet spell
WINDOW_S = 60.0  # ... and the bucket refills that many over this long
MAX_ADDRESSES = 10_000  # past this many addresses tracked, the refilled ones are forgotten


class AuthThrottle:
    """Per-address buckets of failed authentications; times are milliseconds."""

    def __init__(self, failures: int = FAILURES_PER_WINDOW, window_s: float = WINDOW_S) -> None:
        self._capacity = failures
        self._rate_per_s = failures / window_s
        #: address → the bucket's theoretical arrival time (``ratelimit.admit``'s state)
        self._tat_ms: dict[str, float] = {}

    def retry_in_s(self, address: str, now_ms: int) -> int | None:
        """Seconds until ``address`` may fail again, or None if it may try now."""
        tat = self._tat_ms.get(address)
        if tat is None:
            return None
        admission = ratelimit.admit(tat, now_ms, self._rate_per_s, self._capacity)
        if admission.allowed:
            return None
        return max(1, math.ceil(admission.retry_in_ms / 1000))

    def failed(self, address: str, now_ms: int) -> None:
        """Draw one failure from ``address``'s bucket."""
        if len(self._tat_ms) >= MAX_ADDRESSES:
            self._forget_refilled(now_ms)
        admission = ratelimit.admit(
            self._tat_ms.get(address), now_ms, self._rate_per_s, self._capacity
        )
        if admission.allowed:
            self._tat_ms[address] = admission.tat_ms

    def _forget_refilled(self, now_ms: int) -> None:
        # a bucket whose arrival time has passed is full again: same as never seen
        self._tat_ms = {a: t for a, t in self._tat_ms.items() if t > now_ms}
        if len(self._tat_ms) >= MAX_ADDRESSES:  # all of them busy: bound the memory anyway
            self._tat_ms.clear()
