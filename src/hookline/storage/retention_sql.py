"""Retention on both databases: find, read and delete what is old and final, a batch at a time.

An event is prunable once it is older than the cutoff and every delivery of it is final
(``FINAL_STATES``) and last changed before the cutoff: an event with a pending, delivering or
held delivery stays whole. Its deliveries and their attempts go with it. Attempts of no
delivery (test sends, incoming calls) are pruned by their own age.

Each batch is a short transaction that deletes rows by primary key, so live traffic's
transactions are never held for long (SQLite's one writer; PostgreSQL's row locks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from hookline.core.models import FINAL_STATES, Attempt
from hookline.storage import rows
from hookline.storage import tables as t
from hookline.storage.records import PruneBatch, PruneCounts, PrunedEvent, PrunedRows
from hookline.storage.sql_base import SqlBase

T = TypeVar("T")

_e, _d, _a = t.events, t.deliveries, t.attempts


def _kept_delivery(cutoff_ms: int) -> Any:
    """A delivery that keeps its event: not final, or changed since the cutoff."""
    # OFFSET 0 keeps PostgreSQL from turning this into an anti-join, for which it read every
    # live delivery of the table once per batch; as it is, it looks up each event's own
    # deliveries by index, as SQLite does
    return (
        sa.select(sa.literal(1))
        .where(
            _d.c.organization_id == _e.c.organization_id,
            _d.c.event_id == _e.c.id,
            sa.or_(_d.c.state.not_in(FINAL_STATES), _d.c.updated_ms >= cutoff_ms),
        )
        .offset(0)
        .exists()
    )


def _prunable_events(cutoff_ms: int) -> Any:
    return sa.and_(_e.c.created_ms < cutoff_ms, ~_kept_delivery(cutoff_ms))


def _lone_attempts(cutoff_ms: int) -> Any:
    return sa.and_(_a.c.delivery_id.is_(None), _a.c.created_ms < cutoff_ms)


def _of_events(org: Any, event_id: Any, keys: Sequence[tuple[str, str]]) -> Any:
    """Rows whose ``(org, event_id)`` is one of ``keys``: an ``IN`` list per organization,
    which both databases answer from the index (SQLite scans the whole table for a list of
    pairs)."""
    by_org: dict[str, list[str]] = {}
    for org_id, eid in keys:
        by_org.setdefault(org_id, []).append(eid)
    return sa.or_(*(sa.and_(org == o, event_id.in_(ids)) for o, ids in by_org.items()))


def _event_keys(keys: Sequence[tuple[str, str]]) -> Any:
    return _of_events(_e.c.organization_id, _e.c.id, keys)


def _delivery_ids(conn: sa.Connection, keys: Sequence[tuple[str, str]]) -> list[str]:
    if not keys:
        return []
    of_events = _of_events(_d.c.organization_id, _d.c.event_id, keys)
    return [r[0] for r in conn.execute(sa.select(_d.c.id).where(of_events))]


def prunable_tx(conn: sa.Connection, cutoff_ms: int, limit: int) -> PruneBatch:
    """The oldest ``limit`` prunable events, and up to ``limit`` prunable lone attempts."""
    events = conn.execute(
        sa.select(_e.c.organization_id, _e.c.id)
        .where(_prunable_events(cutoff_ms))
        .order_by(_e.c.created_ms)
        .limit(limit)
    ).all()
    attempts = conn.execute(
        sa.select(_a.c.id).where(_lone_attempts(cutoff_ms)).order_by(_a.c.id).limit(limit)
    ).all()
    return PruneBatch(
        events=tuple((r[0], r[1]) for r in events), attempts=tuple(r[0] for r in attempts)
    )


def read_tx(conn: sa.Connection, batch: PruneBatch) -> PrunedRows:
    """Every row of ``batch``, as its export writes them."""
    found: list[PrunedEvent] = []
    if batch.events:
        by_event: dict[tuple[str, str], list[Mapping[Any, Any]]] = {}
        deliveries = conn.execute(
            sa.select(_d)
            .where(_of_events(_d.c.organization_id, _d.c.event_id, batch.events))
            .order_by(_d.c.created_ms, _d.c.id)
        ).mappings()
        ids: list[str] = []
        for r in deliveries:
            by_event.setdefault((r["organization_id"], r["event_id"]), []).append(r)
            ids.append(r["id"])
        attempts: dict[str, list[Mapping[Any, Any]]] = {}
        if ids:
            for r in conn.execute(
                sa.select(_a).where(_a.c.delivery_id.in_(ids)).order_by(_a.c.created_ms, _a.c.id)
            ).mappings():
                attempts.setdefault(r["delivery_id"], []).append(r)
        for r in conn.execute(sa.select(_e).where(_event_keys(batch.events))).mappings():
            ds = by_event.get((r["organization_id"], r["id"]), [])
            found.append(
                PrunedEvent(
                    event=rows.event(r),
                    deliveries=tuple(rows.delivery(d) for d in ds),
                    attempts=tuple(rows.attempt(a) for d in ds for a in attempts.get(d["id"], ())),
                )
            )
    lone: tuple[Attempt, ...] = ()
    if batch.attempts:
        lone = tuple(
            rows.attempt(r)
            for r in conn.execute(
                sa.select(_a).where(_a.c.id.in_(list(batch.attempts))).order_by(_a.c.id)
            ).mappings()
        )
    return PrunedRows(events=tuple(found), attempts=lone)


def prune_tx(conn: sa.Connection, batch: PruneBatch, cutoff_ms: int) -> PruneCounts:
    """Delete ``batch``, but for what stopped being prunable since it was found (a replay
    made a delivery pending again, say)."""
    events = 0
    deliveries: list[str] = []
    attempts = 0
    if batch.events:
        # only a delivery can have changed since the batch was found (an event's age does not):
        # without the age in the query, PostgreSQL looks the events up by primary key, where
        # with it, it may scan every old event of the organization by (organization, age)
        still = [
            (r[0], r[1])
            for r in conn.execute(
                sa.select(_e.c.organization_id, _e.c.id).where(
                    _event_keys(batch.events), ~_kept_delivery(cutoff_ms)
                )
            )
        ]
        deliveries = _delivery_ids(conn, still)
        if deliveries:
            attempts += conn.execute(_a.delete().where(_a.c.delivery_id.in_(deliveries))).rowcount
            conn.execute(_d.delete().where(_d.c.id.in_(deliveries)))
        if still:
            events = conn.execute(_e.delete().where(_event_keys(still))).rowcount
    if batch.attempts:
        attempts += conn.execute(
            _a.delete().where(_a.c.id.in_(list(batch.attempts)), _lone_attempts(cutoff_ms))
        ).rowcount
    return PruneCounts(events=events, deliveries=len(deliveries), attempts=attempts)


class RetentionSql(SqlBase):
    """Retention."""

    async def count_prunable(self, cutoff_ms: int) -> PruneCounts:
        events = sa.select(_e.c.organization_id, _e.c.id).where(_prunable_events(cutoff_ms))
        keys = events.subquery()
        of_events = sa.and_(
            _d.c.organization_id == keys.c.organization_id, _d.c.event_id == keys.c.id
        )
        deliveries = sa.select(_d.c.id).select_from(_d.join(keys, of_events)).subquery()
        async with self._read() as conn:
            n_events = (
                await conn.execute(sa.select(sa.func.count()).select_from(keys))
            ).scalar_one()
            n_deliveries = (
                await conn.execute(sa.select(sa.func.count()).select_from(deliveries))
            ).scalar_one()
            n_attempts = (
                await conn.execute(
                    sa.select(sa.func.count()).where(
                        sa.or_(
                            _a.c.delivery_id.in_(sa.select(deliveries.c.id)),
                            _lone_attempts(cutoff_ms),
                        )
                    )
                )
            ).scalar_one()
        return PruneCounts(
            events=int(n_events), deliveries=int(n_deliveries), attempts=int(n_attempts)
        )

    async def prunable(self, cutoff_ms: int, limit: int) -> PruneBatch:
        async with self._read() as conn:
            return await conn.run_sync(prunable_tx, cutoff_ms, limit)

    async def read_prunable(self, batch: PruneBatch) -> PrunedRows:
        async with self._read() as conn:
            return await conn.run_sync(read_tx, batch)

    async def prune(self, batch: PruneBatch, cutoff_ms: int) -> PruneCounts:
        if not batch.events and not batch.attempts:
            return PruneCounts()
        # a queue transaction, not a configuration write: the publish path's cached reads stay
        return await self._transact(lambda conn: prune_tx(conn, batch, cutoff_ms))
