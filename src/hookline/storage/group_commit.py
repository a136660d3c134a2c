"""Group commit: callers that write while a write is under way share the next transaction.

Nobody waits for a timer: the first caller writes at once, and whoever arrives meanwhile is
written together in the next transaction, so under load the transactions grow instead of
queueing one by one. A group that fails is retried caller by caller, so that one caller's
bad write never fails another's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_GROUP_ITEMS = 2_000  # items written in one transaction at most


class GroupCommit(Generic[T, R]):
    """Serializes calls of ``write`` (items in, one result per item out) and merges the
    calls that wait into one."""

    def __init__(self, write: Callable[[Sequence[T]], Awaitable[Sequence[R]]]) -> None:
        self._write = write
        self._waiting: list[tuple[Sequence[T], asyncio.Future[list[R]]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, items: Sequence[T]) -> list[R]:
        """Write ``items`` (in one transaction, maybe with others'); their results in order."""
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        self._waiting.append((items, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="hookline-group-commit")
        # the write goes on if this caller is cancelled: its items are accepted either way
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        # one turn of the event loop first: callers whose requests are already read join in
        await asyncio.sleep(0)
        while self._waiting:
            group: list[tuple[Sequence[T], asyncio.Future[list[R]]]] = []
            size = 0
            while self._waiting and (
                not group or size + len(self._waiting[0][0]) <= MAX_GROUP_ITEMS
            ):
                call = self._waiting.pop(0)
                group.append(call)
                size += len(call[0])
            await self._write_group(group)

    async def _write_group(self, group: list[tuple[Sequence[T], asyncio.Future[list[R]]]]) -> None:
        try:
            results = await self._write([item for items, _ in group for item in items])
        except Exception as exc:
            if len(group) == 1:
                _settle(group[0][1], exc)
                return
            for call in group:  # alone, each caller gets its own answer
                await self._write_group([call])
            return
        at = 0
        for items, future in group:
            _settle(future, list(results[at : at + len(items)]))
            at += len(items)


def _settle(future: asyncio.Future[list[R]], outcome: list[R] | BaseException) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
