"""SQLite's one writer, shared by the API's publishes and the worker's own transactions.

A publish is someone's request waiting for its answer; a claim or an outcome batch is the
worker's housekeeping, and on SQLite it runs on a thread and may take a while. So the lock
lets waiting publishes (and other API writes) go first, but never more than a few in a row
while the worker waits, so that delivering cannot be starved by a flood of publishes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

MAX_FOREGROUND_IN_A_ROW = 4  # API writes let ahead of a waiting worker transaction


class WriteLock:
    def __init__(self) -> None:
        self._locked = False
        self._foreground: deque[asyncio.Future[None]] = deque()
        self._background: deque[asyncio.Future[None]] = deque()
        self._in_a_row = 0

    @property
    def locked(self) -> bool:
        return self._locked

    @property
    def waited_for(self) -> bool:
        """Whether anyone is waiting for the lock."""
        return any(not w.done() for w in self._foreground) or any(
            not w.done() for w in self._background
        )

    @asynccontextmanager
    async def hold(self, *, background: bool = False) -> AsyncIterator[None]:
        await self.acquire(background=background)
        try:
            yield
        finally:
            self.release()

    async def acquire(self, *, background: bool = False) -> None:
        if not self._locked and not self._foreground and not self._background:
            self._locked = True
            self._in_a_row = 0
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._background if background else self._foreground
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # it had been handed the lock as it was cancelled: pass it on
            elif waiter in queue:  # (a release in between may have dropped it already)
                queue.remove(waiter)
            raise

    def release(self) -> None:
        """Hand the lock to the next waiter (it stays locked), or unlock."""
        background_first = self._in_a_row >= MAX_FOREGROUND_IN_A_ROW and self._background
        queues = (
            (self._background, self._foreground)
            if background_first
            else (self._foreground, self._background)
        )
        for queue in queues:
            while queue:
                waiter = queue.popleft()
                if waiter.done():
                    continue
                self._in_a_row = self._in_a_row + 1 if queue is self._foreground else 0
                waiter.set_result(None)
                return
        self._locked = False
        self._in_a_row = 0
