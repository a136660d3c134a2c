"""Events, their deliveries and attempts: written, claimed, settled and read back, on both
databases (the transactions themselves: publish_tx.py, claim_tx.py, outcome_tx.py)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

import sqlalchemy as sa

from hookline.core.models import Attempt, ClaimedDelivery, Delivery, Event, Subscription
from hookline.storage import rows
from hookline.storage import tables as t
from hookline.storage.attempt_log import Owned, attempts_query, owned_query
from hookline.storage.claim_tx import ClaimTx
from hookline.storage.group_commit import GroupCommit
from hookline.storage.outcome_tx import OutcomeTx
from hookline.storage.publish_tx import PublishTx, leased_subscriptions
from hookline.storage.records import (
    AttemptFilter,
    NewDeliveries,
    OutcomeRecord,
    Published,
    PullRecorded,
    Recorded,
)

_e, _d, _s, _a = t.events, t.deliveries, t.subscriptions, t.attempts


class DeliveriesSql(PublishTx, ClaimTx, OutcomeTx):
    """Events, deliveries and attempts."""

    _publishes: GroupCommit[NewDeliveries, Published]

    def _known_subscriptions(self, sub_ids: Collection[str]) -> Mapping[str, Subscription]:
        """Of ``sub_ids``, the subscriptions this process holds in memory as it last wrote or
        read them (see publish_tx.py); none unless the implementation keeps them."""
        del sub_ids
        return {}

    async def insert_events_with_deliveries(
        self, items: Sequence[NewDeliveries]
    ) -> list[Published]:
        # publishes that arrive while one is being written share the next transaction
        return await self._publishes.submit(items)

    async def _publish_group(self, items: Sequence[NewDeliveries]) -> list[Published]:
        """One transaction for the items of the publishes waiting together."""
        # taken now, before the write is queued: it is checked against the stored rows there
        known = self._known_subscriptions(leased_subscriptions(items))
        return await self._transact(lambda conn: self._insert_events_tx(conn, items, known))

    async def get_event(self, org_id: str, event_id: str) -> Event | None:
        row = await self._one(
            sa.select(_e).where(_e.c.organization_id == org_id, _e.c.id == event_id)
        )
        return rows.event(row) if row else None

    async def recent_events(
        self,
        org_id: str,
        limit: int,
        *,
        before: tuple[int, str] | None = None,
        agent_identity_id: str | None = None,
    ) -> list[Event]:
        stmt = sa.select(_e).where(_e.c.organization_id == org_id)
        if before is not None:
            at, event_id = before
            stmt = stmt.where(
                sa.or_(_e.c.created_ms < at, sa.and_(_e.c.created_ms == at, _e.c.id < event_id))
            )
        if agent_identity_id is not None:
            stmt = stmt.where(_e.c.agent_identity_id == agent_identity_id)
        stmt = stmt.order_by(_e.c.created_ms.desc(), _e.c.id.desc()).limit(limit)
        return [rows.event(r) for r in await self._all(stmt)]

    async def deliveries_of_event(
        self, org_id: str, event_id: str, owner_identity_id: str | None = None
    ) -> list[Delivery]:
        stmt = sa.select(_d).where(_d.c.organization_id == org_id, _d.c.event_id == event_id)
        if owner_identity_id is not None:
            owned = sa.select(_s.c.id).where(_s.c.owner_identity_id == owner_identity_id)
            stmt = stmt.where(_d.c.subscription_id.in_(owned))
        stmt = stmt.order_by(_d.c.created_ms, _d.c.id)
        return [rows.delivery(r) for r in await self._all(stmt)]

    async def claim_due(
        self,
        now_ms: int,
        limit: int,
        lease_ms: int,
        exclude_subscriptions: Collection[str] = (),
        *,
        only_subscription: str | None = None,
        after_ms: int | None = None,
    ) -> list[ClaimedDelivery]:
        if limit <= 0:
            return []
        return await self._transact(
            lambda conn: self._claim_tx(
                conn, now_ms, limit, lease_ms, exclude_subscriptions, only_subscription, after_ms
            )
        )

    async def release(
        self,
        delivery_ids: Sequence[str],
        lease_token: str,
        now_ms: int,
        *,
        due_ms: int | None = None,
    ) -> None:
        if not delivery_ids:
            return
        await self._transact(
            lambda conn: self._release_tx(conn, delivery_ids, lease_token, now_ms, due_ms)
        )

    async def record_outcomes(
        self, outcomes: Sequence[OutcomeRecord], disable_after_ms: int | None = None
    ) -> Recorded:
        if not outcomes:
            return Recorded(changed=0)
        return await self._transact(
            lambda conn: self._record_outcomes_tx(conn, outcomes, disable_after_ms)
        )

    async def record_pulled(
        self,
        sub_id: str,
        leases: Sequence[tuple[str, str]],
        now_ms: int,
        outcome: Callable[[ClaimedDelivery, int], OutcomeRecord],
        disable_after_ms: int | None = None,
    ) -> PullRecorded:
        if not leases:
            return PullRecorded(recorded=frozenset())
        return await self._transact(
            lambda conn: self._record_pulled_tx(
                conn, sub_id, leases, now_ms, outcome, disable_after_ms
            )
        )

    async def insert_attempt(self, attempt: Attempt) -> None:
        values = rows.attempt_values(attempt)
        await self._transact(lambda conn: conn.execute(_a.insert().values(**values)))

    async def get_attempt(self, org_id: str, attempt_id: str) -> Attempt | None:
        row = await self._one(
            sa.select(_a).where(_a.c.organization_id == org_id, _a.c.id == attempt_id)
        )
        return rows.attempt(row) if row else None

    async def requeue_failed(self, org_id: str, sub_id: str, since_ms: int, now_ms: int) -> int:
        def write(conn: sa.Connection) -> int:
            res = conn.execute(
                _d.update()
                .where(
                    _d.c.organization_id == org_id,
                    _d.c.subscription_id == sub_id,
                    _d.c.state == "failed",
                    _d.c.created_ms >= since_ms,
                )
                .values(
                    state="pending",
                    attempts=0,
                    first_attempt_ms=None,
                    next_attempt_ms=now_ms,
                    lease_token=None,
                    updated_ms=now_ms,
                )
            )
            if res.rowcount:
                self._announce_due(conn)
            return int(res.rowcount)

        return await self._transact(write)

    async def next_due_ms(
        self, exclude_subscriptions: Collection[str] = (), after_ms: int | None = None
    ) -> int | None:
        # what the workers' claims may take: pull deliveries wait for their consumers
        stmt = sa.select(sa.func.min(_d.c.next_attempt_ms).label("due")).where(
            sa.text(t.DUE_PREDICATE)
        )
        if exclude_subscriptions:
            stmt = stmt.where(_d.c.subscription_id.not_in(sorted(exclude_subscriptions)))
        if after_ms is not None:
            stmt = stmt.where(_d.c.next_attempt_ms > after_ms)
        row = await self._one(stmt)
        return int(row["due"]) if row and row["due"] is not None else None

    async def list_attempts(self, org_id: str, flt: AttemptFilter) -> list[Attempt]:
        owned: Owned | None = None
        if flt.owner_identity_id is not None:
            found = await self._all(owned_query(org_id, flt.owner_identity_id))
            owned = (
                [r["id"] for r in found if r["kind"] == "s"],
                [r["id"] for r in found if r["kind"] == "p"],
            )
            if not owned[0] and not owned[1]:
                return []  # owns nothing: no attempt can be its own
        return [rows.attempt(r) for r in await self._all(attempts_query(org_id, flt, owned))]

    async def count_deliveries(self, org_id: str | None = None) -> dict[str, int]:
        stmt = sa.select(_d.c.state, sa.func.count()).group_by(_d.c.state)
        if org_id is not None:
            stmt = stmt.where(_d.c.organization_id == org_id)
        async with self._read() as conn:
            return {r[0]: int(r[1]) for r in (await conn.execute(stmt)).all()}
