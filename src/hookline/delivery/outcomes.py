"""Writing attempts' outcomes: each result made a record (``Recorder``), and the records
written in batches, retried while the leases last, and never lost from the log
(``OutcomeWriter``).

An outcome that is not written before its delivery's lease runs out means the delivery falls
due again and is sent twice; so a batch is retried through a database outage until the
earliest lease in it is nearly out, not for a fixed few seconds. A batch that still could
not be written is kept (bounded) and written once the database is back: the attempt is in
the log whatever happened, and the delivery takes its new state if no other worker has
leased it meanwhile (the write applies only under the lease's own token).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from hookline.core.errors import StorageUnavailable
from hookline.core.models import ClaimedDelivery
from hookline.core.outcome import SendResult
from hookline.delivery.reporting import Report
from hookline.metrics import Metrics
from hookline.services import outbound
from hookline.services.clock import Clock
from hookline.storage.records import OutcomeRecord, Recorded
from hookline.tracing import Tracing

if TYPE_CHECKING:
    from hookline.delivery.attempts import Attempt

log = logging.getLogger("hookline.worker")

FLUSH_BATCH = 500  # outcomes written per transaction at most
FLUSH_INTERVAL_S = 0.1  # how long an outcome may wait to be batched with others
#: the last try of a batch begins this long before the earliest lease in it runs out: a
#: write that lands after it may find the delivery leased again, and sent twice
WRITE_MARGIN_MS = 1_000
#: outcomes kept, at most, whose leases ran out unwritten; beyond, the oldest are dropped
#: (and counted in the log) rather than the worker's memory growing through a long outage
MAX_LATE = 20_000
#: while writes fail, the wait before the next try starts here and doubles up to the most
RETRY_WAIT_S = 0.1
RETRY_WAIT_MAX_S = 2.0
#: how often outcomes kept past their lease are tried again
LATE_RETRY_S = 1.0
MAX_JITTER_MS = 1000  # added to retries, never subtracted


#: writes one batch of outcomes in one transaction (Storage.record_outcomes), raising
#: StorageUnavailable while the database cannot
Write = Callable[[list[OutcomeRecord]], Awaitable[Recorded]]


class OutcomeWriter:
    """``write`` is all it needs of the storage, and ``clock`` with ``sleep`` all it needs of
    time: its retries are measured against leases on the clock that granted them."""

    def __init__(
        self,
        write: Write,
        clock: Clock,
        *,
        on_recorded: Callable[[Recorded], Awaitable[None]],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._write_batch = write
        self._clock = clock
        self._sleep = sleep
        self._on_recorded = on_recorded
        #: outcomes waiting for their batch, each with when its delivery's lease runs out
        self._pending: list[tuple[OutcomeRecord, int]] = []
        #: outcomes whose lease ran out before they could be written, oldest first
        self._late: deque[OutcomeRecord] = deque()
        self._needed = asyncio.Event()
        #: set by a stopping worker: a write that fails is kept for one last try, not retried
        self.stopping = False

    @property
    def late(self) -> int:
        """Outcomes written past their lease, still waiting for the database."""
        return len(self._late)

    def add(self, record: OutcomeRecord, lease_until_ms: int) -> None:
        self._pending.append((record, lease_until_ms))
        if len(self._pending) >= FLUSH_BATCH:
            self._needed.set()
        elif len(self._pending) == 1:
            asyncio.get_running_loop().call_later(FLUSH_INTERVAL_S, self._needed.set)

    def flush(self) -> None:
        """Write what waits now (a stopping worker)."""
        self._needed.set()

    async def run(self, stop: asyncio.Event, busy: Callable[[], bool]) -> None:
        """Write outcomes as they come until ``stop`` and nothing is ``busy`` (no attempt that
        could still add one is under way)."""
        while True:
            if self._late and not self.stopping:
                # the kept outcomes are tried again now and then, and at every new batch
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._needed.wait(), LATE_RETRY_S)
            else:
                await self._needed.wait()
            self._needed.clear()
            while self._pending:
                batch = self._pending[:FLUSH_BATCH]
                del self._pending[:FLUSH_BATCH]
                # an outcome that is not written is an attempt sent twice: shield the write
                await asyncio.shield(self._write(batch))
            tried_stopping = self.stopping
            if self._late:
                await asyncio.shield(self._write_late())
            if stop.is_set() and not busy() and not self._pending:
                if self._late and not tried_stopping:
                    # the worker began stopping during that try: the kept get one more
                    self._needed.set()
                    continue
                if self._late:
                    log.error(
                        "%d attempts could not be written to the log before stopping; their "
                        "deliveries will be sent again",
                        len(self._late),
                    )
                return

    async def _write(self, batch: list[tuple[OutcomeRecord, int]]) -> None:
        """Write ``batch``, retrying until its earliest lease is nearly out; keep it for
        later if that is not enough."""
        records = [r for r, _ in batch]
        last_try_ms = min(until for _, until in batch) - WRITE_MARGIN_MS
        wait_s = 0.0
        while True:
            if await self._try(records):
                return
            left_ms = last_try_ms - self._clock.now_ms()
            if self.stopping or left_ms <= 0:
                break
            wait_s = min(max(wait_s * 2, RETRY_WAIT_S), RETRY_WAIT_MAX_S)
            await self._sleep(min(wait_s, left_ms / 1000))
        log.warning(
            "%d outcomes were not written within their leases; their deliveries may be sent "
            "again, and the attempts are logged once the database is back",
            len(records),
        )
        self._keep(records)

    async def _write_late(self) -> None:
        """One try at the outcomes kept past their lease, a batch at a time."""
        while self._late:
            batch = [self._late[i] for i in range(min(FLUSH_BATCH, len(self._late)))]
            if not await self._try(batch):
                return
            for _ in batch:
                self._late.popleft()
            log.info("%d attempts written to the log after their leases ran out", len(batch))

    async def _try(self, records: list[OutcomeRecord]) -> bool:
        try:
            recorded = await self._write_batch(records)
        except StorageUnavailable:
            return False  # the outage is logged once by the storage's health state
        except Exception:
            log.exception("writing %d outcomes failed; retrying", len(records))
            return False
        try:
            await self._on_recorded(recorded)
        except Exception:
            log.exception("handling %d written outcomes failed", len(records))
        return True

    def _keep(self, records: list[OutcomeRecord]) -> None:
        self._late.extend(records)
        over = len(self._late) - MAX_LATE
        if over > 0:
            for _ in range(over):
                self._late.popleft()
            log.error("%d attempts were dropped unlogged: too many kept during an outage", over)


class Recorder:
    """Makes each attempt's result its outcome record (the retry schedule decides: see
    ``services/outbound.py``), counts and reports it, and hands it to the ``writer``."""

    def __init__(
        self,
        *,
        writer: OutcomeWriter,
        clock: Clock,
        metrics: Metrics,
        schedule: Sequence[int],
        report: Report | None = None,
        tracing: Tracing | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._writer = writer
        self._clock = clock
        self._metrics = metrics
        self._schedule = tuple(schedule)
        self._report = report
        self._tracing = tracing
        self._jitter_ms = functools.partial((rng or random.Random()).randrange, MAX_JITTER_MS)
        # per attempt, the counters' children are looked up once
        self._succeeded = metrics.attempts.labels("success")
        self._failed = metrics.attempts.labels("failure")

    def record(self, attempt: Attempt, result: SendResult) -> None:
        now = self._clock.now_ms()
        record = outbound.outcome_record(
            attempt.claimed,
            body=attempt.body,
            result=result,
            started_ms=attempt.started_ms,
            now_ms=now,
            schedule=self._schedule,
            jitter_ms=self._jitter_ms,
            request_headers=attempt.sent,
        )
        (self._succeeded if record.state == "succeeded" else self._failed).inc()
        self._metrics.attempt_seconds.observe(result.duration_ms / 1000)
        c = attempt.claimed
        self._metrics.subscription_latency(c.subscription.id).observe(result.duration_ms / 1000)
        error = record.attempt.error_detail
        report = self._report
        if report is not None:
            report.tally[record.state] += 1
            if record.state != "succeeded" and log.isEnabledFor(logging.INFO):
                report.failed_attempt(
                    subscription_id=c.subscription.id,
                    event_id=c.event.id,
                    delivery_id=c.delivery.id,
                    attempt=c.delivery.attempts + 1,
                    status=result.status,
                    error=error,
                    next_attempt_at_ms=record.next_attempt_at_ms,
                )
        if self._tracing is not None:
            self._trace(c, result, error, attempt.started_ms, now)
        self._writer.add(record, attempt.lease_until_ms)

    def _trace(
        self, c: ClaimedDelivery, result: SendResult, error: str | None, started_ms: int, now: int
    ) -> None:
        assert self._tracing is not None
        attributes: dict[str, Any] = {
            "hookline.subscription_id": c.subscription.id,
            "hookline.delivery_id": c.delivery.id,
            "hookline.attempt": c.delivery.attempts + 1,
        }
        if result.status is not None:
            attributes["http.response.status_code"] = result.status
        self._tracing.attempted(
            c.event.organization_id,
            c.event.id,
            attributes,
            error=error,
            start_ns=started_ms * 1_000_000,
            end_ns=max(now, started_ms + result.duration_ms) * 1_000_000,
        )
