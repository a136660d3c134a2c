"""Background tasks: a bulk replay started over the API, carried out by a worker.

``start_replay`` checks the request and stores a queued task (at most one queued or running
per subscription). Every worker process runs ``run``: it leases the oldest task it may take and
does it a batch at a time (``Storage.replay_batch``: one transaction re-queues the batch and
moves the task's cursor past it), renewing the lease with each batch. A worker that dies leaves
a lease that runs out; another worker then carries on from the cursor, so no delivery is
re-queued twice by one task. Re-queued deliveries keep their event id: the receiver sees the
same ``webhook-id``/event id again, as with a single replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace

from hookline.core import ids
from hookline.core.catalog import CATALOG, NOT_SUBSCRIBABLE
from hookline.core.errors import Conflict, NotFound, StorageUnavailable, ValidationFailed
from hookline.core.tasks import REPLAY_STATUSES, ReplayParams, ReplayStatus, Task
from hookline.services.clock import Clock
from hookline.services.page import Page
from hookline.services.principal import Principal
from hookline.services.subscriptions import SubscriptionService
from hookline.storage.base import Storage
from hookline.storage.records import TaskFilter

log = logging.getLogger("hookline.tasks")

#: deliveries per batch: each batch is one short transaction, so live traffic's transactions
#: never wait long behind a replay (SQLite's one writer; PostgreSQL's row locks)
TASK_BATCH = 200
#: between two batches, so that live traffic goes first: at least this, and at least as long
#: as the batch took (a replay has the database at most half the time)
TASK_PAUSE_S = 0.05
#: how long a worker holds a task between two batches; a dead worker's task is taken up by
#: another this long after its last batch
TASK_LEASE_MS = 30_000
#: how often an idle worker looks for a task (one made in this process wakes it at once)
TASK_POLL_S = 1.0
#: the longest event_types list a replay takes (a subscription takes at most as many)
MAX_REPLAY_TYPES = 100


class TaskService:
    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        subscriptions: SubscriptionService,
        *,
        wake: Callable[[], None],
        batch: int = TASK_BATCH,
        pause_s: float = TASK_PAUSE_S,
        lease_ms: int = TASK_LEASE_MS,
        poll_s: float = TASK_POLL_S,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._subscriptions = subscriptions
        #: wakes this process's dispatcher: the deliveries a batch re-queued are due now
        self._wake_dispatcher = wake
        self._batch = batch
        self._pause_s = pause_s
        self._lease_ms = lease_ms
        self._poll_s = poll_s
        self._woken = asyncio.Event()

    # -- the API's side -----------------------------------------------------------------------
    async def start_replay(
        self,
        principal: Principal,
        sub_id: str,
        *,
        since_ms: int,
        until_ms: int | None,
        status: str,
        event_types: Sequence[str] | None,
    ) -> Task:
        """Queue a bulk replay of the subscription's deliveries in ``status`` created in
        [since, until) (until: now when not given), of ``event_types`` (all when None)."""
        sub = await self._subscriptions.get(principal, sub_id)
        now = self._clock.now_ms()
        if status not in REPLAY_STATUSES:
            raise ValidationFailed("status", f"must be one of {', '.join(REPLAY_STATUSES)}")
        if since_ms > now:
            raise ValidationFailed("since", "must not be in the future")
        until = now if until_ms is None else until_ms
        if until <= since_ms:
            raise ValidationFailed("until", "must be later than since")
        types = _checked_types(event_types, sub.event_types)
        if not sub.enabled:
            # its re-queued deliveries would only be held again
            raise Conflict(
                "the subscription is disabled: enable it first "
                '(PATCH {"enabled": true, "held": "send"} sends what was held)'
            )
        task = Task(
            id=ids.new_task_id(),
            organization_id=sub.organization_id,
            kind="replay",
            subscription_id=sub.id,
            mailbox_id=sub.mailbox_id,
            phone_number_id=sub.phone_number_id,
            agent_identity_id=sub.agent_identity_id,
            owner_identity_id=sub.owner_identity_id,
            params=ReplayParams(
                since_ms=since_ms,
                until_ms=until,
                status=_status(status),
                event_types=types,
            ),
            created_at_ms=now,
            updated_at_ms=now,
        )
        stored = await self._storage.insert_task(task)
        if stored.id != task.id:
            raise Conflict(
                f"the subscription has a replay {stored.state} already: task {stored.id}"
            )
        self._woken.set()
        return stored

    async def get(self, principal: Principal, task_id: str) -> Task:
        task = await self._storage.get_task(principal.organization_id, task_id)
        if task is None or not _visible(principal, task):
            raise NotFound("task", task_id)
        return task

    async def list(
        self, principal: Principal, subscription_id: str | None, limit: int, offset: int
    ) -> Page[Task]:
        """The tasks the principal may see, newest first; of one subscription when given."""
        flt = TaskFilter(subscription_id=subscription_id)
        if not principal.is_admin:
            flt = replace(flt, owner_identity_id=principal.identity_id or "")
        if principal.channel is not None:
            kind, channel_id = principal.channel
            flt = replace(flt, **{kind: channel_id})
        found = await self._storage.list_tasks(principal.organization_id, flt, limit + 1, offset)
        return Page.of(found, limit)

    # -- the worker's side --------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Carry out tasks until ``stop``: one at a time per worker, a batch at a time."""
        token = str(uuid.uuid4())  # this worker's, for its leases
        while not stop.is_set():
            task: Task | None = None
            idle = True
            try:
                task = await self._storage.claim_task(self._clock.now_ms(), self._lease_ms, token)
                if task is not None:
                    await self._carry_out(task, token, stop)
                    idle = False  # there may be another: look again at once
            except StorageUnavailable:
                pass  # logged once per outage by the storage; the lease runs out meanwhile
            except Exception:  # the lease runs out and this worker or another tries again
                log.exception("task %s failed", task.id if task else "(none)")
            if idle:
                self._woken.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(stop, self._woken), self._poll_s)

    async def _carry_out(self, task: Task, token: str, stop: asyncio.Event) -> None:
        log.info(
            "task %s: replaying %s deliveries of subscription %s",
            task.id,
            task.params.status,
            task.subscription_id,
            extra={"task_id": task.id, "subscription_id": task.subscription_id},
        )
        current: Task | None = task
        while current is not None and not current.finished:
            if stop.is_set():
                await self._storage.release_task(task.id, token, self._clock.now_ms())
                return
            started = time.monotonic()
            current = await self._storage.replay_batch(
                task.id, token, self._clock.now_ms(), self._lease_ms, self._batch
            )
            if current is not None and current.requeued:
                self._wake_dispatcher()
            if current is not None and not current.finished:
                took = time.monotonic() - started
                await asyncio.sleep(max(self._pause_s, took if self._pause_s else 0))
        if current is None:
            log.warning("task %s: lease lost to another worker", task.id)
            return
        log.info(
            "task %s %s: %d re-queued, %d skipped",
            task.id,
            current.state,
            current.requeued,
            current.skipped,
            extra={"task_id": task.id, "requeued": current.requeued, "skipped": current.skipped},
        )


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def _status(status: str) -> ReplayStatus:
    for known in REPLAY_STATUSES:
        if status == known:
            return known
    raise ValidationFailed("status", f"must be one of {', '.join(REPLAY_STATUSES)}")


def _checked_types(given: Sequence[str] | None, takes: Sequence[str]) -> tuple[str, ...]:
    if given is None:
        return ()
    if not given:
        raise ValidationFailed("event_types", "must not be empty (leave it out for every type)")
    if len(given) > MAX_REPLAY_TYPES:
        raise ValidationFailed("event_types", f"at most {MAX_REPLAY_TYPES} types")
    for n, name in enumerate(given):
        if name not in CATALOG or name in NOT_SUBSCRIBABLE:
            raise ValidationFailed(f"event_types[{n}]", f"{name!r} is not a subscribable type")
        if name not in takes:
            raise ValidationFailed(
                f"event_types[{n}]",
                f"the subscription does not take {name!r} (it takes {', '.join(takes)})",
            )
    return tuple(dict.fromkeys(given))


def _visible(principal: Principal, task: Task) -> bool:
    """As its subscription is (``SubscriptionService.visible``), by the owner copied onto it."""
    if principal.channel is not None:
        kind, channel_id = principal.channel
        if getattr(task, kind) != channel_id:
            return False
    return principal.is_admin or (
        task.owner_identity_id is not None and task.owner_identity_id == principal.identity_id
    )
