"""Group commit: callers that arrive while a write is under way share the next one; every
caller gets its own results, and one caller's bad items never fail another's."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from hookline.storage.group_commit import GroupCommit


class Writer:
    """Records each write's items; blocks the first until ``release`` is set; refuses "bad"."""

    def __init__(self) -> None:
        self.writes: list[list[str]] = []
        self.release = asyncio.Event()

    async def __call__(self, items: Sequence[str]) -> list[str]:
        self.writes.append(list(items))
        if len(self.writes) == 1:
            await self.release.wait()
        if "bad" in items:
            raise ValueError("bad item")
        return [item.upper() for item in items]


async def test_callers_waiting_during_a_write_share_the_next() -> None:
    writer = Writer()
    group = GroupCommit(writer)
    first = asyncio.create_task(group.submit(["a"]))
    await asyncio.sleep(0.01)  # the first write is under way
    later = [asyncio.create_task(group.submit(items)) for items in (["b"], ["c", "d"], ["e"])]
    await asyncio.sleep(0.01)
    writer.release.set()
    assert await first == ["A"]
    assert [await t for t in later] == [["B"], ["C", "D"], ["E"]]
    assert writer.writes == [["a"], ["b", "c", "d", "e"]]


async def test_a_failing_group_is_written_again_caller_by_caller() -> None:
    writer = Writer()
    group = GroupCommit(writer)
    first = asyncio.create_task(group.submit(["a"]))
    await asyncio.sleep(0.01)
    good = asyncio.create_task(group.submit(["b"]))
    bad = asyncio.create_task(group.submit(["bad"]))
    other = asyncio.create_task(group.submit(["c"]))
    writer.release.set()
    assert await first == ["A"]
    assert await good == ["B"]
    assert await other == ["C"]
    with pytest.raises(ValueError, match="bad item"):
        await bad
    assert writer.writes == [["a"], ["b", "bad", "c"], ["b"], ["bad"], ["c"]]


async def test_a_cancelled_callers_items_are_written_all_the_same() -> None:
    writer = Writer()
    group = GroupCommit(writer)
    first = asyncio.create_task(group.submit(["a"]))
    await asyncio.sleep(0.01)
    gone = asyncio.create_task(group.submit(["b"]))
    await asyncio.sleep(0.01)
    gone.cancel()
    writer.release.set()
    assert await first == ["A"]
    with pytest.raises(asyncio.CancelledError):
        await gone
    await asyncio.sleep(0.01)
    assert writer.writes == [["a"], ["b"]]
