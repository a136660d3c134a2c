"""The dispatcher: the worker, wired from its parts.

- claiming.py leases due deliveries into the lanes, and gives back what will not be sent;
- handoff.py takes this process's fresh publishes without a claim;
- scheduling.py starts each delivery when its subscription's cap and rate and its pool allow;
- attempts.py runs each attempt through a ``Transport`` (sender.py over HTTP);
- outcomes.py makes each result a record and writes the records in batches;
- revocations.py keeps what the worker knows of subscriptions disabled or deleted.

The dispatcher itself answers revocations, and stops: what waits unsent is given back, and
the attempts under way may finish for a while.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from hookline.core.errors import StorageUnavailable
from hookline.delivery.attempts import Attempts, Transport
from hookline.delivery.claiming import REFILL_BATCH, Claimer
from hookline.delivery.handoff import Handoff
from hookline.delivery.outcomes import OutcomeWriter, Recorder
from hookline.delivery.reporting import Report
from hookline.delivery.revocations import Revocations
from hookline.delivery.scheduling import Scheduler
from hookline.metrics import Metrics
from hookline.services.clock import Clock
from hookline.services.secretbox import SecretBox
from hookline.services.send_limits import SendLimits
from hookline.storage.records import Disabled, OutcomeRecord, Recorded
from hookline.storage.roles.deliveries import Deliveries
from hookline.tracing import Tracing

log = logging.getLogger("hookline.worker")

LEASE_MARGIN_MS = 10_000  # room to write an outcome, on top of the attempts a lease covers
OUTCOME_MARGIN_MS = 5_000  # an attempt starts only with this much lease left after it
STOP_GRACE_S = 10.0  # how long a stopping worker lets in-flight attempts finish


class Dispatcher:
    """``sends``: this process's bounds of direct sends (test sends, replays), whose sends to
    a subscription count against its cap with the worker's own attempts. ``monotonic`` (the
    clock of the worker's stalls: revocations.py) and ``sleep`` (the outcome writer's waits
    between tries: outcomes.py) go with ``clock``; tests replace them."""

    def __init__(
        self,
        *,
        storage: Deliveries,
        transport: Transport,
        box: SecretBox,
        clock: Clock,
        metrics: Metrics,
        schedule: Sequence[int],
        timeout_s: float,
        max_in_flight: int,
        max_in_flight_per_subscription: int,
        poll_interval_s: float,
        disable_after_s: int | None = None,
        on_disabled: Callable[[Sequence[Disabled]], Awaitable[None]] | None = None,
        report: Report | None = None,
        tracing: Tracing | None = None,
        sends: SendLimits | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._on_disabled = on_disabled
        self._sends = sends
        disable_after_ms = disable_after_s * 1000 if disable_after_s else None
        # a leased delivery may wait in its lane before its attempt: the lease covers about
        # one attempt's worth of waiting, the attempt and the write of the outcome; one whose
        # lease would not outlive its attempt is given back unsent (see scheduling.py)
        timeout_ms = int(timeout_s * 1000)
        lease_ms = 2 * timeout_ms + LEASE_MARGIN_MS
        needed_ms = timeout_ms + OUTCOME_MARGIN_MS
        #: attempts under way: tasks, and answers of attempts written at once
        self._tasks: set[asyncio.Future[Any]] = set()
        self._revocations = Revocations(self._give_back_all, monotonic=monotonic)
        self._scheduler = Scheduler(
            storage=storage,
            clock=clock,
            max_in_flight=max_in_flight,
            per_subscription=max_in_flight_per_subscription,
            timeout_ms=timeout_ms,
            lease_ms=lease_ms,
            needed_ms=needed_ms,
            max_held=max_in_flight + REFILL_BATCH,
            in_flight=self._tasks,
            awake=self._revocations.check_awake,
            sends=sends.to_subscription if sends is not None else {},
        )
        self._claimer = Claimer(
            storage=storage,
            clock=clock,
            scheduler=self._scheduler,
            revocations=self._revocations,
            metrics=metrics,
            lease_ms=lease_ms,
            poll_interval_s=poll_interval_s,
        )
        #: this process's publishes hand their fresh deliveries over here
        self.handoff = Handoff(
            storage=storage,
            clock=clock,
            scheduler=self._scheduler,
            claimer=self._claimer,
            revocations=self._revocations,
            needed_ms=needed_ms,
        )

        async def write_outcomes(batch: list[OutcomeRecord]) -> Recorded:
            recorded = await storage.record_outcomes(batch, disable_after_ms)
            # a retry due at once may be due before the claim loop's latest claim: wake it
            # (its idle wait asks only for what falls due after that claim)
            now = clock.now_ms()
            if any(r.next_attempt_at_ms is not None and r.next_attempt_at_ms <= now for r in batch):
                self._claimer.wakeup.set()
            return recorded

        self._outcomes = OutcomeWriter(
            write_outcomes,
            clock,
            on_recorded=self._recorded,
            sleep=sleep,
        )
        recorder = Recorder(
            writer=self._outcomes,
            clock=clock,
            metrics=metrics,
            schedule=schedule,
            report=report,
            tracing=tracing,
        )
        self._attempts = Attempts(
            transport=transport,
            box=box,
            clock=clock,
            revocations=self._revocations,
            record=recorder.record,
            ended=self._scheduler.ended,
            task_done=self._scheduler.task_done,
            give_back=self._claimer.give_back,
            tasks=self._tasks,
        )
        self._scheduler.connect(
            start=self._attempts.start,
            give_back=self._claimer.give_back,
            refill=self._claimer.refill,
        )
        # the gauge of attempts under way is read when scraped rather than moved twice for
        # every attempt
        metrics.in_flight.set_function(lambda: len(self._tasks))

    def wake(self) -> None:
        """Something may be due now (called on publish, or by a database notification)."""
        self._claimer.wakeup.set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def run(self, stop: asyncio.Event) -> None:
        flusher = asyncio.create_task(
            self._outcomes.run(stop, lambda: bool(self._tasks)), name="hookline-flush"
        )
        if self._sends is not None:
            self._sends.share_with(self)
        self._revocations.start_beating()
        try:
            await self._claimer.run(stop)
        finally:
            self._revocations.stop_beating()
            await self._drain()
            if self._sends is not None:
                self._sends.share_with(None)
            self._outcomes.flush()
            await flusher

    # -- direct sends (services/send_limits.py) ------------------------------------------------
    def attempts_of(self, subscription_id: str) -> int:
        """The worker's attempts of the subscription under way."""
        lane = self._scheduler.lanes.get(subscription_id)
        return lane.busy if lane is not None else 0

    def send_ended(self, subscription_id: str) -> None:
        """A direct send to the subscription ended: its lane may start one more."""
        lane = self._scheduler.lanes.get(subscription_id)
        if lane is not None and lane.queue:
            self._scheduler.pump(lane)

    # -- revocations ---------------------------------------------------------------------------
    async def _recorded(self, recorded: Recorded) -> None:
        """Outcomes were written: what they disabled sends nothing more."""
        if recorded.disabled:
            Report.disabled(recorded.disabled)
            for d in recorded.disabled:
                self.revoke(d.subscription.id)
        if recorded.disabled and self._on_disabled is not None:
            try:
                await self._on_disabled(recorded.disabled)
            except Exception:
                log.exception("announcing disabled subscriptions failed")

    def revoke(self, sub_id: str) -> None:
        """The subscription was disabled or deleted, by this process or by another (heard
        through the database): nothing more of it starts here. Its storage has made its
        undelivered deliveries held or cancelled, which voids their leases; what waits in its
        lane is dropped, and a claim or attempt begun before now sends none of them. An
        attempt under way finishes, and its outcome is written (see queue_sql.RECORD_OUTCOME)."""
        self._revocations.revoke(sub_id)
        self._scheduler.drop(sub_id)

    def hearing(self, up: bool) -> None:
        """Whether other processes' revocations reach this worker (its storage's listener is
        up, see storage/revocations.py). A disabling request waits only for the workers it
        finds listening: one that is not (starting, or re-connecting) would not hear it, so
        while it is not the worker starts no attempt and claims nothing. Once it hears again,
        whatever it holds unsent, or claims with a claim begun before, may be of a
        subscription disabled meanwhile: all of it is given back, to be claimed again as the
        database now has it (a disabled subscription's deliveries are held, not due)."""
        self._revocations.heard(up)

    def _give_back_all(self, why: str) -> None:
        """Give back every delivery held unsent, and those of any claim, handoff or refill
        begun before now (see Claimer.accept): a subscription may have been revoked unheard."""
        self._revocations.all_given_back()
        back = self._scheduler.take_back_all()
        if back:
            log.info("%d deliveries given back: %s", len(back), why)
            self._claimer.give_back(back, self._clock.now_ms())
        self._claimer.wakeup.set()

    # -- stopping ------------------------------------------------------------------------------
    async def _drain(self) -> None:
        """Let attempts under way finish (for a while), and give back what waits unsent."""
        self.handoff.stopping = self._attempts.stopping = self._outcomes.stopping = True
        self._scheduler.cool()
        await self._claimer.settle()
        waiting = self._scheduler.take_back_for_stop()
        await self._attempts.finish(STOP_GRACE_S)
        limits = self._scheduler.limits
        if limits is not None:
            await limits.close(list(self._scheduler.lanes.values()))
        now = self._clock.now_ms()
        for token, delivery_ids in waiting.items():
            try:
                await self._storage.release(delivery_ids, token, now)
            except StorageUnavailable:
                pass  # their leases lapse, and they fall due again
            except Exception:
                log.exception("giving back %d deliveries failed", len(delivery_ids))
