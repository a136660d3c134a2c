"""Background task schemas: a bulk replay's request, a task as read back."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hookline.api.schemas.common import EventType, In, IsoDateTime, Out
from hookline.core.tasks import Task
from hookline.core.timefmt import iso_from_ms

ReplayStatusName = Literal["failed", "held", "succeeded"]


class ReplayIn(In):
    """What to replay: the subscription's deliveries in one state, created in a window."""

    since: IsoDateTime
    """Replay deliveries created at or after this time (ISO 8601 with a timezone; not in the
    future)."""
    until: IsoDateTime | None = None
    """... and before this time (later than `since`); now when left out."""
    status: ReplayStatusName
    """The deliveries' state: `failed` (retries used up), `held` (kept while the subscription
    was disabled) or `succeeded` (sent again)."""
    event_types: list[EventType] | None = Field(None, min_length=1, max_length=100)
    """Only deliveries of these event types (ones the subscription takes); all when left
    out."""


class ReplayParamsOut(Out):
    """What the task replays."""

    since: str
    """Deliveries created at or after this time."""
    until: str
    """... and before this time."""
    status: ReplayStatusName
    """The state of the deliveries it re-queues."""
    event_types: list[str] | None
    """Only these event types; null: every type the subscription takes."""


class TaskProgress(Out):
    """How far the task is."""

    total: int
    """Deliveries that matched when the task was made (an estimate: some may change state,
    or be pruned, before their batch)."""
    requeued: int
    """Re-queued so far: each is sent again with its own event id."""
    skipped: int
    """Matched but not re-queued: no longer in the state asked for when their batch came, or
    of a type the subscription no longer takes."""


class TaskResult(Out):
    """What a finished task did."""

    requeued: int
    """Deliveries re-queued."""
    skipped: int
    """Deliveries matched but not re-queued."""


class TaskOut(Out):
    """A background task."""

    id: str
    """The task's id (`task_…`)."""
    organization_id: str
    """The organization it belongs to."""
    kind: Literal["replay"]
    """What it does: `replay` (a bulk replay)."""
    subscription_id: str
    """The subscription whose deliveries it replays."""
    state: Literal["queued", "running", "succeeded", "failed"]
    """`queued` until a worker takes it, `running`, then `succeeded` or `failed`."""
    params: ReplayParamsOut
    """What it was asked to do."""
    progress: TaskProgress
    """How far it is."""
    result: TaskResult | None
    """Once `succeeded`."""
    error: str | None
    """Why it `failed`."""
    created_at: str
    """When it was asked for."""
    updated_at: str
    """When it last moved on."""
    started_at: str | None
    """When a worker first took it up."""
    finished_at: str | None
    """When it succeeded or failed."""

    @classmethod
    def of(cls, task: Task) -> TaskOut:
        p = task.params
        return cls(
            id=task.id,
            organization_id=task.organization_id,
            kind=task.kind,
            subscription_id=task.subscription_id,
            state=task.state,
            params=ReplayParamsOut(
                since=iso_from_ms(p.since_ms),
                until=iso_from_ms(p.until_ms),
                status=p.status,
                event_types=list(p.event_types) or None,
            ),
            progress=TaskProgress(total=task.total, requeued=task.requeued, skipped=task.skipped),
            result=(
                TaskResult(requeued=task.requeued, skipped=task.skipped)
                if task.state == "succeeded"
                else None
            ),
            error=task.error,
            created_at=iso_from_ms(task.created_at_ms),
            updated_at=iso_from_ms(task.updated_at_ms),
            started_at=_iso(task.started_at_ms),
            finished_at=_iso(task.finished_at_ms),
        )


class TaskList(Out):
    """Tasks."""

    tasks: list[TaskOut]
    """Tasks, newest first."""
    has_more: bool
    """More rows follow: ask again with a larger `offset`."""


def _iso(ms: int | None) -> str | None:
    return None if ms is None else iso_from_ms(ms)
