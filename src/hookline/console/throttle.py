"""Sign-in throttling: failed attempts counted per account and per client address.

Counted in this process's memory: each API process throttles on its own, which bounds a
guesser to a few times the limit across a handful of processes, and a restart forgets.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 900.0  # failures are remembered for a quarter of an hour
#: an address may fail this many times more than one account: a shared office address, or a
#: person who forgot which email they used, should not be shut out by one account's limit
ADDRESS_FACTOR = 4
#: keys remembered at most, so a flood of made-up emails cannot grow memory without bound
MAX_KEYS = 100_000


class SignInThrottle:
    def __init__(
        self,
        per_account: int,
        *,
        window_s: float = WINDOW_S,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {"account": per_account, "address": per_account * ADDRESS_FACTOR}
        self._window_s = window_s
        self._now = now
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        found = self._failures.get(key)
        if found is None:
            return deque()
        while found and found[0] <= now - self._window_s:
            found.popleft()
        if not found:
            del self._failures[key]
        return found

    def retry_after_s(self, account: str, address: str) -> int | None:
        """Seconds until another attempt may be made, or None when one may be made now."""
        now = self._now()
        wait = 0.0
        for kind, value in (("account", account), ("address", address)):
            recent = self._recent((kind, value), now)
            if len(recent) >= self._limits[kind]:
                wait = max(wait, recent[-self._limits[kind]] + self._window_s - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, account: str, address: str) -> None:
        now = self._now()
        if len(self._failures) >= MAX_KEYS:
            self._failures.clear()
        for key in (("account", account), ("address", address)):
            self._failures.setdefault(key, deque()).append(now)
