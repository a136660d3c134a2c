"""Configuration reads kept in memory: API keys, owners, routing candidates.

Every publish authenticates its key, looks up its owner and the subscriptions that may want
it; those rows change rarely. The embedded database has one process, so the cache can be
exact: every configuration write drops it (before and after), no read fills it while a
write is under way, and a read that started before a write finished is not kept.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Any

MAX_ENTRIES = 10_000  # past this the cache starts over (a bound, not an eviction policy)


class ReadCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._max = max_entries
        self._entries: dict[Hashable, Any] = {}
        self._writing = 0
        #: bumped by every write, so a read that overlapped one is not kept
        self._generation = 0

    def get(self, key: Hashable) -> Any | None:
        if self._writing:
            return None
        return self._entries.get(key)

    def token(self) -> int:
        """Take before a read; hand to :meth:`put` with what the read found."""
        return self._generation

    def put(self, key: Hashable, value: Any, token: int) -> None:
        if self._writing or token != self._generation:
            return
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[key] = value

    def invalidate(self) -> None:
        self._generation += 1
        self._entries.clear()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Around a configuration write: nothing is served or kept until it is over."""
        self._writing += 1
        self.invalidate()
        try:
            yield
        finally:
            self._writing -= 1
            self.invalidate()
