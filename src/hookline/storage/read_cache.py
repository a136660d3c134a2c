"""Configuration reads kept in memory: API keys, owners, routing candidates.

Every publish authenticates its key, looks up its owner and the subscriptions that may want
it; those rows change rarely. Every configuration write of this process drops the cache
(before and after), no read fills it while such a write is under way, and a read that started
before a drop is not kept. A write that knows exactly what it changes may keep some entries
instead and bring them up to date itself before it ends (:meth:`writing`, :meth:`update`):
reloading an organization's 10,000 routing candidates after each subscription change stalls
the event loop for a quarter of a second. Writes of other processes drop it through
:meth:`invalidate` (cached_reads.py says when); a cache that cannot hear of them is turned
off meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

K = TypeVar("K")
V = TypeVar("V")

MAX_ENTRIES = 10_000  # past this the cache starts over (a bound, not an eviction policy)


class ReadCache:
    def __init__(self, max_entries: int = MAX_ENTRIES, *, enabled: bool = True) -> None:
        self._max = max_entries
        self._enabled = enabled
        self._entries: dict[Hashable, Any] = {}
        self._writing = 0
        #: bumped by every write, so a read that overlapped one is not kept
        self._generation = 0
        #: what :meth:`derived` built, and the entries put since (it takes them in next time)
        self._derived: dict[Any, Any] | None = None
        self._since: list[tuple[Hashable, Any]] = []

    @property
    def enabled(self) -> bool:
        return self._enabled

    def set_enabled(self, enabled: bool) -> None:
        """Serve and keep entries only while ``enabled``; either way it starts over."""
        self._enabled = enabled
        self.invalidate()

    def __len__(self) -> int:
        """How many entries it holds (during a write: how many the write kept)."""
        return len(self._entries)

    def get(self, key: Hashable) -> Any | None:
        if self._writing or not self._enabled:
            return None
        return self._entries.get(key)

    def token(self) -> int:
        """Take before a read; hand to :meth:`put` with what the read found."""
        return self._generation

    def put(self, key: Hashable, value: Any, token: int) -> None:
        if self._writing or not self._enabled or token != self._generation:
            return
        if len(self._entries) >= self._max:
            self._entries.clear()
            self._drop_derived()
        self._entries[key] = value
        if self._derived is not None:
            self._since.append((key, value))

    def derived(
        self, build: Callable[[Iterable[tuple[Hashable, Any]]], dict[K, V]]
    ) -> dict[K, V] | None:
        """A mapping ``build`` makes of the entries, or None while nothing is served. It is
        built once and then extended with what ``build`` makes of the entries put since, so
        ``build`` must make of several entries the union of what it makes of each; the
        caller passes the same ``build`` each time. It starts over with the cache."""
        if self._writing or not self._enabled:
            return None
        if self._derived is None:
            self._derived = build(self._entries.items())
        elif self._since:
            self._derived.update(build(self._since))
        self._since.clear()
        return self._derived

    def invalidate(self, keep: Callable[[Hashable], bool] | None = None) -> None:
        """Start over (reads under way are not kept), but for the entries ``keep`` accepts."""
        self._generation += 1
        if keep is None:
            self._entries.clear()
        else:
            self._entries = {k: v for k, v in self._entries.items() if keep(k)}
        self._drop_derived()

    def _drop_derived(self) -> None:
        self._derived = None
        self._since.clear()

    @contextmanager
    def writing(self, keep: Callable[[Hashable], bool] | None = None) -> Iterator[None]:
        """Around a configuration write: nothing is served or kept until it is over.

        ``keep``: the entries it accepts outlive the write, and the writer makes them what
        they would be read as after it, with :meth:`update`, before the block ends. A block
        that raises drops them too."""
        self.start_writing(keep)
        kept = False
        try:
            yield
            kept = True
        finally:
            self.stop_writing(keep if kept else None)

    def start_writing(self, keep: Callable[[Hashable], bool] | None = None) -> None:
        """:meth:`writing`'s start, for a write whose end comes as a callback."""
        self._writing += 1
        self.invalidate(keep)

    def stop_writing(self, keep: Callable[[Hashable], bool] | None = None) -> None:
        """:meth:`writing`'s end: ``keep`` as the write's start had it, or None when it failed."""
        self._writing -= 1
        self.invalidate(keep)

    def update(self, change: Callable[[Hashable, Any], Any]) -> None:
        """Each entry becomes ``change(key, value)``. For a writer inside :meth:`writing`,
        for the entries it kept. ``change`` may change a value in place only if no reader
        holds it (routing candidates are handed out as copies)."""
        self._entries = {key: change(key, value) for key, value in self._entries.items()}
        self._drop_derived()
