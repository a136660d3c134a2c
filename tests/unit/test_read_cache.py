"""The read cache's derivation: built once from the entries, rebuilt when they change."""

from __future__ import annotations

from collections.abc import Hashable, ItemsView
from typing import Any

from hookline.storage.read_cache import ReadCache


class Builds:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, entries: ItemsView[Hashable, Any]) -> dict[Hashable, Any]:
        self.count += 1
        return dict(entries)


def test_derived_is_built_once_until_the_entries_change() -> None:
    cache, build = ReadCache(), Builds()
    cache.put("a", 1, cache.token())
    assert cache.derived(build) == {"a": 1}
    assert cache.derived(build) == {"a": 1}
    assert build.count == 1
    cache.put("b", 2, cache.token())
    assert cache.derived(build) == {"a": 1, "b": 2}
    assert build.count == 2


def test_derived_starts_over_with_the_cache() -> None:
    cache, build = ReadCache(), Builds()
    cache.put("a", 1, cache.token())
    assert cache.derived(build) == {"a": 1}
    cache.invalidate()
    assert cache.derived(build) == {}
    assert build.count == 2


def test_nothing_is_derived_during_a_write_or_while_the_cache_is_off() -> None:
    cache, build = ReadCache(), Builds()
    cache.put("a", 1, cache.token())
    with cache.writing():
        assert cache.derived(build) is None
    assert cache.derived(build) == {}  # the write dropped the entries
    cache.set_enabled(False)
    assert cache.derived(build) is None
    assert build.count == 1
