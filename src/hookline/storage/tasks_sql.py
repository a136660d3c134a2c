"""Background tasks on both databases: make one, lease it to a worker, carry out a batch.

A replay batch is one transaction that checks the worker still holds the task's lease,
re-queues the next deliveries after the task's cursor and moves the cursor past them: a worker
that dies between two batches leaves the cursor where its last committed batch put it, and one
that lost its lease (it stalled, another took over) writes nothing at all.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hookline.core.tasks import ACTIVE_TASK_STATES, ReplayParams, Task, TaskKind, TaskState
from hookline.storage import tables as t
from hookline.storage.records import TaskFilter
from hookline.storage.sql_base import SqlBase

T = TypeVar("T")

_k, _d, _e, _s = t.tasks, t.deliveries, t.events, t.subscriptions


def task_of(r: Mapping[Any, Any]) -> Task:
    return Task(
        id=r["id"],
        organization_id=r["organization_id"],
        kind=cast(TaskKind, r["kind"]),
        subscription_id=r["subscription_id"],
        mailbox_id=r["mailbox_id"],
        phone_number_id=r["phone_number_id"],
        agent_identity_id=r["agent_identity_id"],
        owner_identity_id=r["owner_identity_id"],
        params=ReplayParams.from_json(json.loads(r["params"])),
        state=cast(TaskState, r["state"]),
        total=r["total"],
        requeued=r["requeued"],
        skipped=r["skipped"],
        error=r["error"],
        created_at_ms=r["created_ms"],
        updated_at_ms=r["updated_ms"],
        started_at_ms=r["started_ms"],
        finished_at_ms=r["finished_ms"],
    )


def _matching(org_id: str, sub_id: str, params: ReplayParams) -> Any:
    """The deliveries a replay re-queues, as columns (id, created_ms, the event's type)."""
    stmt = (
        sa.select(_d.c.id, _d.c.created_ms, _e.c.type)
        .select_from(
            _d.join(
                _e, sa.and_(_e.c.organization_id == _d.c.organization_id, _e.c.id == _d.c.event_id)
            )
        )
        .where(
            _d.c.organization_id == org_id,
            _d.c.subscription_id == sub_id,
            _d.c.state == params.status,
            _d.c.created_ms >= params.since_ms,
            _d.c.created_ms < params.until_ms,
        )
    )
    if params.event_types:
        stmt = stmt.where(_e.c.type.in_(list(params.event_types)))
    return stmt


def _active(sub_id: str) -> Any:
    return sa.and_(_k.c.subscription_id == sub_id, _k.c.state.in_(ACTIVE_TASK_STATES))


def _takeable(now_ms: int) -> Any:
    """Queued, or running on a lease that ran out (its worker died or stalled)."""
    return sa.and_(
        # spelled as the active tasks' partial index has it, so that a database may read just
        # that index rather than every task ever made
        sa.text(t.ACTIVE_TASK_PREDICATE),
        sa.or_(
            _k.c.state == "queued",
            sa.and_(_k.c.state == "running", _k.c.lease_until_ms < now_ms),
        ),
    )


def insert_task_tx(conn: sa.Connection, task: Task) -> Task:
    running = conn.execute(sa.select(_k).where(_active(task.subscription_id))).mappings().first()
    if running is not None:
        return task_of(running)
    conn.execute(
        _k.insert().values(
            id=task.id,
            organization_id=task.organization_id,
            kind=task.kind,
            subscription_id=task.subscription_id,
            mailbox_id=task.mailbox_id,
            phone_number_id=task.phone_number_id,
            agent_identity_id=task.agent_identity_id,
            owner_identity_id=task.owner_identity_id,
            params=json.dumps(task.params.as_json()),
            state=task.state,
            total=task.total,
            requeued=0,
            skipped=0,
            created_ms=task.created_at_ms,
            updated_ms=task.updated_at_ms,
        )
    )
    return task


def claim_task_tx(conn: sa.Connection, now_ms: int, lease_ms: int, token: str) -> Task | None:
    found = conn.execute(
        sa.select(_k.c.id).where(_takeable(now_ms)).order_by(_k.c.created_ms, _k.c.id).limit(1)
    ).scalar()
    if found is None:
        return None
    # the same test again in the update: of two workers after the same task, one takes it
    taken = conn.execute(
        _k.update()
        .where(_k.c.id == found, _takeable(now_ms))
        .values(
            state="running",
            lease_token=token,
            lease_until_ms=now_ms + lease_ms,
            started_ms=sa.func.coalesce(_k.c.started_ms, now_ms),
            updated_ms=now_ms,
        )
    )
    if taken.rowcount != 1:
        return None
    return task_of(conn.execute(sa.select(_k).where(_k.c.id == found)).mappings().one())


def replay_batch_tx(
    conn: sa.Connection,
    task_id: str,
    token: str,
    now_ms: int,
    lease_ms: int,
    limit: int,
    announce_due: Callable[[sa.Connection], None],
) -> Task | None:
    row = (
        conn.execute(
            sa.select(_k)
            .where(_k.c.id == task_id, _k.c.lease_token == token, _k.c.state == "running")
            .with_for_update()
        )
        .mappings()
        .first()
    )
    if row is None:
        return None  # the lease is no longer ours: another worker carries on
    task = task_of(row)
    params = task.params
    sub = (
        conn.execute(
            sa.select(_s.c.event_types, _s.c.deleted_ms).where(
                _s.c.organization_id == task.organization_id, _s.c.id == task.subscription_id
            )
        )
        .mappings()
        .first()
    )
    done: dict[str, Any] = {
        "lease_token": None,
        "lease_until_ms": None,
        "finished_ms": now_ms,
        "updated_ms": now_ms,
    }
    if sub is None or sub["deleted_ms"] is not None:
        gone = {**done, "state": "failed", "error": "the subscription was deleted"}
        conn.execute(_k.update().where(_k.c.id == task_id).values(**gone))
        return task_of({**row, **gone})
    stmt = _matching(task.organization_id, task.subscription_id, params)
    if row["cursor_ms"] is not None:
        after_ms, after_id = row["cursor_ms"], row["cursor_id"]
        # spelled out rather than as a row value, so that both databases read the index range
        stmt = stmt.where(
            _d.c.created_ms >= after_ms,
            sa.or_(_d.c.created_ms > after_ms, _d.c.id > after_id),
        )
    found = conn.execute(stmt.order_by(_d.c.created_ms, _d.c.id).limit(limit)).all()
    takes = set(json.loads(sub["event_types"]))
    wanted = [r.id for r in found if r.type in takes]
    requeued = 0
    if wanted:
        requeued = conn.execute(
            _d.update()
            .where(_d.c.id.in_(wanted), _d.c.state == params.status)
            .values(
                state="pending",
                # evaluated on the row before this update: one never sent (held) is not a replay
                replay=_d.c.attempts > 0,
                attempts=0,
                first_attempt_ms=None,
                next_attempt_ms=now_ms,
                lease_token=None,
                updated_ms=now_ms,
            )
        ).rowcount
    values: dict[str, Any] = {
        "requeued": row["requeued"] + requeued,
        "skipped": row["skipped"] + len(found) - requeued,
        "updated_ms": now_ms,
        "lease_until_ms": now_ms + lease_ms,
    }
    if found:
        values["cursor_ms"], values["cursor_id"] = found[-1].created_ms, found[-1].id
    if len(found) < limit:
        values.update(done, state="succeeded")
    conn.execute(_k.update().where(_k.c.id == task_id).values(**values))
    if requeued:
        announce_due(conn)
    return task_of({**row, **values})


def release_task_tx(conn: sa.Connection, task_id: str, token: str, now_ms: int) -> None:
    conn.execute(
        _k.update()
        .where(_k.c.id == task_id, _k.c.lease_token == token, _k.c.state == "running")
        .values(lease_until_ms=now_ms - 1, updated_ms=now_ms)
    )


class TasksSql(SqlBase):
    """Background tasks."""

    async def insert_task(self, task: Task) -> Task:
        async with self._read() as conn:
            total = (
                await conn.execute(
                    sa.select(sa.func.count()).select_from(
                        _matching(
                            task.organization_id, task.subscription_id, task.params
                        ).subquery()
                    )
                )
            ).scalar_one()
        counted = dataclasses.replace(task, total=int(total))
        try:
            # inline, not grouped with the worker's transactions: a conflict rolls back only this
            return await self._transact(lambda conn: insert_task_tx(conn, counted))
        except IntegrityError:  # another request made one a moment before (PostgreSQL)
            async with self._read() as conn:
                row = (
                    (await conn.execute(sa.select(_k).where(_active(task.subscription_id))))
                    .mappings()
                    .first()
                )
            if row is None:
                raise
            return task_of(row)

    async def get_task(self, org_id: str, task_id: str) -> Task | None:
        async with self._read() as conn:
            row = (
                (
                    await conn.execute(
                        sa.select(_k).where(_k.c.organization_id == org_id, _k.c.id == task_id)
                    )
                )
                .mappings()
                .first()
            )
        return task_of(row) if row is not None else None

    async def list_tasks(self, org_id: str, flt: TaskFilter, limit: int, offset: int) -> list[Task]:
        stmt = sa.select(_k).where(_k.c.organization_id == org_id)
        for name in (
            "subscription_id",
            "mailbox_id",
            "phone_number_id",
            "agent_identity_id",
            "owner_identity_id",
        ):
            value = getattr(flt, name)
            if value is not None:
                stmt = stmt.where(_k.c[name] == value)
        stmt = stmt.order_by(_k.c.created_ms.desc(), _k.c.id.desc()).limit(limit).offset(offset)
        async with self._read() as conn:
            return [task_of(r) for r in (await conn.execute(stmt)).mappings().all()]

    async def claim_task(self, now_ms: int, lease_ms: int, token: str) -> Task | None:
        # idle workers ask often: a read first, so that finding nothing takes no write lock
        async with self._read() as conn:
            found = (
                await conn.execute(sa.select(_k.c.id).where(_takeable(now_ms)).limit(1))
            ).first()
        if found is None:
            return None
        return await self._transact(lambda conn: claim_task_tx(conn, now_ms, lease_ms, token))

    async def replay_batch(
        self, task_id: str, token: str, now_ms: int, lease_ms: int, limit: int
    ) -> Task | None:
        return await self._transact(
            lambda conn: replay_batch_tx(
                conn, task_id, token, now_ms, lease_ms, limit, self._announce_due
            )
        )

    async def release_task(self, task_id: str, token: str, now_ms: int) -> None:
        await self._transact(lambda conn: release_task_tx(conn, task_id, token, now_ms))
