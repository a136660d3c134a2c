"""The read cache's derivation: built once from the entries, then extended with what is put."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from hookline.storage.read_cache import ReadCache


class Builds:
    def __init__(self) -> None:
        self.calls: list[list[tuple[Hashable, Any]]] = []

    def __call__(self, entries: Iterable[tuple[Hashable, Any]]) -> dict[Hashable, Any]:
        seen = list(entries)
        self.calls.append(seen)
        return dict(seen)


def test_derived_is_built_once_then_extended_with_only_what_was_put() -> None:
    cache, build = ReadCache(), Builds()
    cache.put("a", 1, cache.token())
    assert cache.derived(build) == {"a": 1}
    assert cache.derived(build) == {"a": 1}
    assert build.calls == [[("a", 1)]]
    cache.put("b", 2, cache.token())
    assert cache.derived(build) == {"a": 1, "b": 2}
    assert build.calls[1:] == [[("b", 2)]]


def test_derived_starts_over_with_the_cache() -> None:
    cache, build = ReadCache(), Builds()
    cache.put("a", 1, cache.token())
    assert cache.derived(build) == {"a": 1}
    cache.invalidate()
    assert cache.derived(build) == {}
    cache.put("b", 2, cache.token())
    assert cache.derived(build) == {"b": 2}


def test_derived_starts_over_when_a_full_cache_starts_over() -> None:
    cache, build = ReadCache(max_entries=2), Builds()
    cache.put("a", 1, cache.token())
    cache.put("b", 2, cache.token())
    assert cache.derived(build) == {"a": 1, "b": 2}
    cache.put("c", 3, cache.token())  # past the bound: the entries start over
    assert cache.derived(build) == {"c": 3}


def test_nothing_is_derived_during_a_write_or_while_the_cache_is_off() -> None:
    cache, build = ReadCache(), Builds()
    cache.put("a", 1, cache.token())
    with cache.writing():
        assert cache.derived(build) is None
    assert cache.derived(build) == {}  # the write dropped the entries
    cache.set_enabled(False)
    assert cache.derived(build) is None
    assert len(build.calls) == 1


def _is_kept(key: Hashable) -> bool:
    return isinstance(key, str) and key.startswith("k")


def test_a_write_keeps_what_it_says_and_brings_it_up_to_date() -> None:
    cache, build = ReadCache(), Builds()
    cache.put("k1", 1, cache.token())
    cache.put("k2", 2, cache.token())
    cache.put("other", 3, cache.token())
    assert cache.derived(build) == {"k1": 1, "k2": 2, "other": 3}
    before = cache.token()
    with cache.writing(keep=_is_kept):
        assert cache.get("k1") is None  # nothing is served during the write
        cache.update(lambda key, value: value * 10)
    assert (cache.get("k1"), cache.get("k2"), cache.get("other")) == (10, 20, None)
    assert cache.derived(build) == {"k1": 10, "k2": 20}  # derived again from what was kept
    cache.put("k3", 3, before)  # a read that began before the write is not kept
    assert cache.get("k3") is None


def test_a_write_that_fails_keeps_nothing() -> None:
    cache = ReadCache()
    cache.put("k1", 1, cache.token())
    try:
        with cache.writing(keep=_is_kept):
            raise RuntimeError("the write failed")
    except RuntimeError:
        pass
    assert cache.get("k1") is None
