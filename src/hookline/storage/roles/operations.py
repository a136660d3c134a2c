"""Retention (pruning old events) and background tasks."""

from __future__ import annotations

import abc
import contextlib
from collections.abc import AsyncIterator

from hookline.core.tasks import Task
from hookline.storage.records import PruneBatch, PruneCounts, PrunedRows, TaskFilter


class Operations(abc.ABC):
    """Retention (pruning old events) and background tasks."""

    # retention ---------------------------------------------------------------------------
    @abc.abstractmethod
    async def count_prunable(self, cutoff_ms: int) -> PruneCounts:
        """What :meth:`prune` would delete of everything older than ``cutoff_ms``: events
        created before it whose deliveries are all final (succeeded, failed, cancelled) and
        last changed before it, with those deliveries and their attempts; and attempts of no
        delivery made before it. An event with a pending, delivering or held delivery is
        kept whole."""

    @abc.abstractmethod
    async def prunable(self, cutoff_ms: int, limit: int) -> PruneBatch:
        """The oldest ``limit`` prunable events, and up to ``limit`` prunable attempts of no
        delivery."""

    @abc.abstractmethod
    async def read_prunable(self, batch: PruneBatch) -> PrunedRows:
        """The rows of ``batch`` (to export them before they are pruned)."""

    @abc.abstractmethod
    async def prune(self, batch: PruneBatch, cutoff_ms: int) -> PruneCounts:
        """Delete ``batch`` in one short transaction, but what is no longer prunable."""

    async def reclaim_space(self) -> None:
        """Give the space of pruned rows back, if the database needs telling (SQLite)."""
        return

    @contextlib.asynccontextmanager
    async def prune_lock(self) -> AsyncIterator[bool]:
        """Whether this process may prune now: with several workers on one database only
        one prunes at a time. Held for the block."""
        yield True

    # background tasks (core/tasks.py) -------------------------------------------------------
    @abc.abstractmethod
    async def insert_task(self, task: Task) -> Task:
        """Store ``task`` with its ``total`` counted now, and answer it; or, when its
        subscription has a queued or running task already, answer that one and store
        nothing."""

    @abc.abstractmethod
    async def get_task(self, org_id: str, task_id: str) -> Task | None: ...

    @abc.abstractmethod
    async def list_tasks(self, org_id: str, flt: TaskFilter, limit: int, offset: int) -> list[Task]:
        """Newest first."""

    @abc.abstractmethod
    async def claim_task(self, now_ms: int, lease_ms: int, token: str) -> Task | None:
        """Lease the oldest queued task, or a running one whose lease ran out, to the worker
        ``token`` names, until ``now_ms + lease_ms``; None when there is none."""

    @abc.abstractmethod
    async def replay_batch(
        self, task_id: str, token: str, now_ms: int, lease_ms: int, limit: int
    ) -> Task | None:
        """One batch of a replay, in one transaction, only while ``token`` holds the task's
        lease: make the next ``limit`` matching deliveries after the task's cursor pending
        (due now, a fresh retry schedule), but those of a type the subscription no longer
        takes (skipped), move the cursor past them and the counters on, renew the lease;
        the task has succeeded when fewer than ``limit`` were left, failed when the
        subscription is gone. Answers the task as it is now; None (nothing written) when the
        lease is no longer ``token``'s."""

    @abc.abstractmethod
    async def release_task(self, task_id: str, token: str, now_ms: int) -> None:
        """Let go of the lease (a worker stopping): another worker may take the task now."""
