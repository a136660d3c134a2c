"""What the worker tells operators: a log line per failed attempt and per subscription
disabled, and a periodic summary that also refreshes the database-wide gauges of /metrics.

Successful attempts log nothing at ``info``; each line is built only when its level is on,
so a busy, healthy worker pays one counter increment per attempt here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from hookline.core.errors import StorageUnavailable
from hookline.core.timefmt import iso_from_ms
from hookline.metrics import Metrics
from hookline.storage.base import Storage
from hookline.storage.records import Disabled

log = logging.getLogger("hookline.worker")

#: delivery states the summary counts as the backlog: due or under way, not yet final
BACKLOG_STATES = ("pending", "delivering")


class Report:
    """Counts of this process's attempts since the last summary, by what became of their
    delivery: ``succeeded`` (delivered), ``failed`` (for good), ``pending`` (retrying)."""

    def __init__(self, storage: Storage, metrics: Metrics, interval_s: float) -> None:
        self._storage = storage
        self._metrics = metrics
        self.interval_s = interval_s
        self.tally = {"succeeded": 0, "failed": 0, "pending": 0}

    def failed_attempt(
        self,
        *,
        subscription_id: str,
        event_id: str,
        delivery_id: str,
        attempt: int,
        status: int | None,
        error: str | None,
        next_attempt_at_ms: int | None,
    ) -> None:
        """One line per failed attempt (the caller checked that ``info`` is on)."""
        what = f"status {status}" if status is not None else (error or "error")
        nxt = iso_from_ms(next_attempt_at_ms) if next_attempt_at_ms is not None else None
        log.info(
            "attempt %d of delivery %s failed (%s): subscription %s, event %s; %s",
            attempt,
            delivery_id,
            what,
            subscription_id,
            event_id,
            f"next attempt at {nxt}" if nxt else "no more attempts",
            extra={
                "subscription_id": subscription_id,
                "event_id": event_id,
                "delivery_id": delivery_id,
                "attempt": attempt,
                "status": status,
                "error": error,
                "next_attempt_at": nxt,
            },
        )

    @staticmethod
    def disabled(disabled: Sequence[Disabled]) -> None:
        for d in disabled:
            log.warning(
                "subscription %s disabled: %s",
                d.subscription.id,
                d.reason,
                extra={"subscription_id": d.subscription.id, "reason": d.reason},
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Every ``interval_s``: refresh the gauges from the database and log the summary."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)
            if stop.is_set():
                return
            await self.summarize()

    async def summarize(self) -> None:
        try:
            states = await self._storage.count_deliveries()
        except StorageUnavailable:
            states = None  # the outage is logged once, by the storage's health
        if states is not None:
            self._metrics.set_delivery_states(states)
        tally, self.tally = self.tally, dict.fromkeys(self.tally, 0)
        if not log.isEnabledFor(logging.INFO):
            return
        backlog = sum(states.get(s, 0) for s in BACKLOG_STATES) if states is not None else None
        log.info(
            "last %g s: %d delivered, %d failed, %d retrying; backlog %s",
            self.interval_s,
            tally["succeeded"],
            tally["failed"],
            tally["pending"],
            backlog if backlog is not None else "unknown (storage unavailable)",
            extra={
                "delivered": tally["succeeded"],
                "failed": tally["failed"],
                "retrying": tally["pending"],
                "backlog": backlog,
            },
        )
