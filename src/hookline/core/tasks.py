"""Background tasks: long work an API call starts and a worker carries out, batch by batch.

The one kind so far is a bulk replay: re-queue a subscription's deliveries of one state
(``failed``, ``held`` or ``succeeded``) created in a time window, oldest first. Each batch
moves the task's cursor past what it re-queued in the same transaction, so no delivery is
re-queued twice by one task, whichever worker carries on after another died.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from hookline.core.frozen import frozen

TaskKind = Literal["replay"]
#: ``queued`` until a worker takes it, ``running`` while one holds its lease (a dead
#: worker's lease runs out and another carries on), then ``succeeded`` or ``failed``
TaskState = Literal["queued", "running", "succeeded", "failed"]
#: the states a subscription has at most one task in
ACTIVE_TASK_STATES: tuple[TaskState, ...] = ("queued", "running")
#: the delivery states a replay re-queues
ReplayStatus = Literal["failed", "held", "succeeded"]
REPLAY_STATUSES: tuple[ReplayStatus, ...] = ("failed", "held", "succeeded")


@frozen
class ReplayParams:
    """What a replay re-queues: deliveries in ``status`` created in [since, until), of
    ``event_types`` (all the subscription takes when empty)."""

    since_ms: int
    until_ms: int
    status: ReplayStatus
    event_types: tuple[str, ...] = ()

    def as_json(self) -> Mapping[str, Any]:
        return {
            "since_ms": self.since_ms,
            "until_ms": self.until_ms,
            "status": self.status,
            "event_types": list(self.event_types),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReplayParams:
        return cls(
            since_ms=int(data["since_ms"]),
            until_ms=int(data["until_ms"]),
            status=data["status"],
            event_types=tuple(data.get("event_types") or ()),
        )


@frozen
class Task:
    id: str
    organization_id: str
    kind: TaskKind
    subscription_id: str
    #: the subscription's owner, copied (it never changes): who may see the task
    mailbox_id: str | None = None
    phone_number_id: str | None = None
    agent_identity_id: str | None = None
    owner_identity_id: str | None = None
    params: ReplayParams
    state: TaskState = "queued"
    #: deliveries that matched when the task was made (a later batch may find fewer: some
    #: changed state, or were pruned, meanwhile)
    total: int = 0
    requeued: int = 0
    #: matched but not re-queued: of a type the subscription no longer takes, or no longer
    #: in the state asked for when their batch came
    skipped: int = 0
    error: str | None = None
    created_at_ms: int
    updated_at_ms: int
    started_at_ms: int | None = None
    finished_at_ms: int | None = None

    @property
    def finished(self) -> bool:
        return self.state not in ACTIVE_TASK_STATES
