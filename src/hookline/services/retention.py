"""Retention: prune old, final events, deliveries and attempts, a small batch at a time.

The worker prunes what is older than ``HOOKLINE_RETENTION_DAYS`` every ``PRUNE_INTERVAL_S``
(only one worker at a time: ``Storage.prune_lock``); ``hookline prune`` does the same on
demand, with a dry run and an export of what it deletes. What may be pruned is the storage's
call (``Storage.count_prunable``): nothing pending, delivering or held.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pydantic_core import to_json

from hookline.services.clock import Clock
from hookline.storage.base import Storage
from hookline.storage.records import PruneCounts, PrunedRows

log = logging.getLogger("hookline.retention")

DAY_MS = 86_400_000
#: events per batch (each with its deliveries and attempts) and attempts of no delivery per
#: batch: one short transaction each, of some 1,000 to 2,000 rows for a typical event
PRUNE_BATCH = 500
#: between two batches, so that live traffic goes first: a rest of ``PRUNE_REST_RATIO`` times
#: as long as the batch took, and at least ``PRUNE_PAUSE_S``. Pruning takes at most a fifth of
#: the time: its batches compete with live traffic for the machine (PostgreSQL's CPU and
#: disk, SQLite's one writer), and at half the time it cost PostgreSQL's live traffic more
#: than the 20 % it may (docs/benchmarks.md, *Pruning beside live traffic*)
PRUNE_REST_RATIO = 4.0
PRUNE_PAUSE_S = 0.05
#: how often the worker prunes
PRUNE_INTERVAL_S = 600.0


class RetentionService:
    def __init__(self, storage: Storage, clock: Clock, *, retention_days: int) -> None:
        self._storage = storage
        self._clock = clock
        self._retention_days = retention_days

    def cutoff_ms(self, older_than_ms: int) -> int:
        return self._clock.now_ms() - older_than_ms

    async def count(self, cutoff_ms: int) -> PruneCounts:
        """What a prune with this cutoff would delete (a dry run)."""
        return await self._storage.count_prunable(cutoff_ms)

    async def prune(
        self,
        cutoff_ms: int,
        *,
        batch: int = PRUNE_BATCH,
        pause_s: float = PRUNE_PAUSE_S,
        rest_ratio: float = PRUNE_REST_RATIO,
        export: Callable[[PrunedRows], None] | None = None,
        progress: Callable[[PruneCounts], None] | None = None,
        stop: asyncio.Event | None = None,
    ) -> PruneCounts:
        """Prune everything prunable older than ``cutoff_ms``, batch by batch; ``export``
        gets each batch's rows before they are deleted, ``progress`` each batch's counts.
        After a batch that took t it rests ``rest_ratio`` x t, at least ``pause_s`` (0: no
        rest at all). The file gives the space back at the end (SQLite)."""
        total = PruneCounts()
        try:
            while stop is None or not stop.is_set():
                started = time.monotonic()
                found = await self._storage.prunable(cutoff_ms, batch)
                if not found.events and not found.attempts:
                    break
                if export is not None:
                    export(await self._storage.read_prunable(found))
                done = await self._storage.prune(found, cutoff_ms)
                total += done
                if progress is not None:
                    progress(done)
                if done.rows == 0:
                    break  # found, but no longer prunable: nothing left to do now
                if pause_s:
                    await _rest(max(pause_s, rest_ratio * (time.monotonic() - started)), stop)
        finally:
            if total.rows:
                await self._storage.reclaim_space()
        return total

    async def prune_expired(self, stop: asyncio.Event | None = None) -> PruneCounts | None:
        """One round of the worker's pruning; None when another process is at it."""
        async with self._storage.prune_lock() as mine:
            if not mine:
                return None
            cutoff = self.cutoff_ms(self._retention_days * DAY_MS)
            return await self.prune(cutoff, stop=stop)

    async def keep(self, stop: asyncio.Event, interval_s: float = PRUNE_INTERVAL_S) -> None:
        """The worker's periodic job, until ``stop``; ``HOOKLINE_RETENTION_DAYS=0`` keeps
        everything."""
        if self._retention_days <= 0:
            return
        while not stop.is_set():
            try:
                done = await self.prune_expired(stop)
                if done is not None and done.rows:
                    log.info(
                        "pruned %d events, %d deliveries, %d attempts",
                        done.events,
                        done.deliveries,
                        done.attempts,
                        extra={"pruned": dataclasses.asdict(done)},
                    )
            except Exception:  # the next round tries again; delivering goes on meanwhile
                log.exception("pruning failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)


async def _rest(seconds: float, stop: asyncio.Event | None) -> None:
    """Sleep, but end at once when ``stop`` is set (a worker stopping does not wait)."""
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def export_lines(pruned: PrunedRows) -> Iterator[bytes]:
    """One JSON object a line per event (with its deliveries and attempts), then one per
    attempt of no delivery (``event`` null)."""
    for item in pruned.events:
        yield _line(
            {
                "event": _plain(item.event),
                "deliveries": [_plain(d) for d in item.deliveries],
                "attempts": [_plain(a) for a in item.attempts],
            }
        )
    for attempt in pruned.attempts:
        yield _line({"event": None, "deliveries": [], "attempts": [_plain(attempt)]})


def _plain(value: Any) -> Mapping[str, Any]:
    return {
        f.name: getattr(value, f.name)
        for f in dataclasses.fields(value)
        if f.name != "data_json"  # the event's data as text: ``data`` has it
    }


def _line(obj: Mapping[str, Any]) -> bytes:
    return to_json(obj) + b"\n"
