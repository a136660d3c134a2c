"""Subscriptions: their settings, secrets and routing candidates, on both databases.

A write that changes both a subscription's deliveries and its row (disabling, deleting,
enabling with its held deliveries) changes the deliveries first, in the order an outcome write
takes them (outcome_tx.py). Two transactions that lock the same rows in opposite orders can
each wait for the other, and PostgreSQL then aborts one of them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hookline.core.errors import Conflict
from hookline.core.models import Subscription
from hookline.storage import rows
from hookline.storage import tables as t
from hookline.storage.queue_sql import UNDELIVERED, hold_undelivered
from hookline.storage.records import HeldAction, SubscriptionFilter, SubscriptionSecrets
from hookline.storage.revocations import Revocation
from hookline.storage.sql_base import Row, SqlBase

_s, _d, _m = t.subscriptions, t.deliveries, t.mailboxes


def _live(org_id: str, sub_id: str) -> Any:
    return sa.and_(_s.c.organization_id == org_id, _s.c.id == sub_id, _s.c.deleted_ms.is_(None))


def _secret_values(secrets: SubscriptionSecrets) -> dict[str, Any]:
    return {
        "auth_token_enc": secrets.auth_token_enc,
        "secret_enc": secrets.secret_enc,
        "previous_secret_enc": secrets.previous_secret_enc,
        "previous_secret_until_ms": secrets.previous_secret_until_ms,
        "headers_enc": secrets.headers_enc,
    }


def _sync_mailbox_webhook(conn: sa.Connection, sub_row: Row, url: str | None) -> None:
    """A mailbox's ``webhook_url`` is the URL of its ``mailbox``-source subscription: keep
    the two in step whichever surface changed the subscription."""
    if sub_row["source"] != "mailbox" or sub_row["mailbox_id"] is None:
        return
    mailbox = sa.and_(
        _m.c.organization_id == sub_row["organization_id"], _m.c.id == sub_row["mailbox_id"]
    )
    conn.execute(_m.update().where(mailbox).values(webhook_url=url))


class SubscriptionsSql(SqlBase):
    """Subscriptions."""

    async def insert_subscription(self, sub: Subscription, secrets: SubscriptionSecrets) -> None:
        values = rows.subscription_values(sub)
        values.update(_secret_values(secrets), deleted_ms=None, failing_since_ms=None)
        try:
            await self._configure(
                lambda conn: conn.execute(_s.insert().values(**values)), subscription=sub.id
            )
        except IntegrityError as exc:
            # the console's add form names the id it creates: sent twice, it meets its own row
            raise Conflict(f"subscription {sub.id!r} already exists") from exc

    async def get_subscription(self, org_id: str, sub_id: str) -> Subscription | None:
        row = await self._one(sa.select(_s).where(_live(org_id, sub_id)))
        return rows.subscription(row) if row else None

    async def subscription_secrets(self, org_id: str, sub_id: str) -> SubscriptionSecrets | None:
        row = await self._one(
            sa.select(
                _s.c.auth_token_enc,
                _s.c.secret_enc,
                _s.c.previous_secret_enc,
                _s.c.previous_secret_until_ms,
                _s.c.headers_enc,
            ).where(_live(org_id, sub_id))
        )
        return SubscriptionSecrets(**row) if row else None

    async def list_subscriptions(
        self, org_id: str, flt: SubscriptionFilter, limit: int, offset: int
    ) -> list[Subscription]:
        stmt = sa.select(_s).where(_s.c.organization_id == org_id, _s.c.deleted_ms.is_(None))
        for name in ("mailbox_id", "phone_number_id", "agent_identity_id", "owner_identity_id"):
            value = getattr(flt, name)
            if value is not None:
                stmt = stmt.where(_s.c[name] == value)
        if flt.url is not None:
            stmt = stmt.where(_s.c.url == flt.url)
        if flt.source is not None:
            stmt = stmt.where(_s.c.source == flt.source)
        if flt.event_type is not None:
            # exact element match inside the JSON list, quoted so a prefix never matches
            stmt = stmt.where(
                _s.c.event_types.contains(json.dumps(flt.event_type), autoescape=True)
            )
        stmt = stmt.order_by(_s.c.created_ms, _s.c.id).limit(limit).offset(offset)
        return [rows.subscription(r) for r in await self._all(stmt)]

    async def update_subscription(
        self,
        org_id: str,
        sub_id: str,
        changes: Mapping[str, Any],
        now_ms: int,
        secrets: SubscriptionSecrets | None = None,
        *,
        held: HeldAction | None = None,
    ) -> Subscription | None:
        values: dict[str, Any] = {"updated_ms": now_ms}
        for fld, v in changes.items():
            col, enc = rows.SUBSCRIPTION_COLUMNS[fld]
            values[col] = enc(v) if enc else v
        if secrets is not None:
            values.update(_secret_values(secrets))
        if changes.get("enabled") is True:
            values["failing_since_ms"] = None
        disabling = changes.get("enabled") is False

        def write(conn: sa.Connection) -> tuple[Row | None, frozenset[str]]:
            if disabling or held is not None:
                # the deliveries before the subscription's row (see the module's docstring)
                if conn.execute(sa.select(_s.c.id).where(_live(org_id, sub_id))).first() is None:
                    return None, frozenset()
                if disabling:
                    reason = changes.get("disabled_reason") or "subscription disabled"
                    hold_undelivered(conn, sub_id, reason, now_ms)
                if held is not None:
                    self._release_held(conn, sub_id, held, now_ms)
            res = conn.execute(_s.update().where(_live(org_id, sub_id)).values(**values))
            if res.rowcount == 0:
                # deleted meanwhile: that deletion cancels its deliveries
                return None, frozenset()
            workers = self._announce_revoked(conn, sub_id) if disabling else frozenset()
            row = conn.execute(sa.select(_s).where(_live(org_id, sub_id))).mappings().one()
            if "url" in changes:
                _sync_mailbox_webhook(conn, row, row["url"])
            return row, workers

        async with self._revoking(disabling) as revocation:
            row, workers = await self._configure(write, subscription=sub_id)
            if row is None:
                return None
            if disabling:
                revocation.expect(sub_id, workers)
            await revocation.wait()
        return rows.subscription(row)

    @asynccontextmanager
    async def _revoking(self, needed: bool) -> AsyncIterator[Revocation]:
        """Hear the workers' answers to a disabling or deletion (see revocations.py), for
        the block; one process (SQLite) has no other worker to hear."""
        del needed
        yield Revocation()

    def _release_held(
        self, conn: sa.Connection, sub_id: str, held: HeldAction, now_ms: int
    ) -> None:
        """Send a subscription's held deliveries (pending, due now) or drop them (cancelled,
        kept in the log)."""
        held_rows = _d.update().where(_d.c.subscription_id == sub_id, _d.c.state == "held")
        if held == "drop":
            conn.execute(
                held_rows.values(
                    state="cancelled",
                    lease_token=None,
                    next_attempt_ms=None,
                    last_error="held while disabled; dropped on enabling",
                    updated_ms=now_ms,
                )
            )
            return
        res = conn.execute(
            # the lease an attempt under way held is void from now: its outcome is not written
            held_rows.values(
                state="pending", lease_token=None, next_attempt_ms=now_ms, updated_ms=now_ms
            )
        )
        if res.rowcount:
            self._announce_due(conn)

    async def delete_subscription(self, org_id: str, sub_id: str, now_ms: int) -> bool:
        def write(conn: sa.Connection) -> frozenset[str] | None:
            row = conn.execute(sa.select(_s).where(_live(org_id, sub_id))).mappings().first()
            if row is None:
                return None
            # the deliveries before the subscription's row (see the module's docstring)
            conn.execute(
                _d.update()
                .where(_d.c.subscription_id == sub_id, _d.c.state.in_((*UNDELIVERED, "held")))
                .values(
                    # a leased one keeps its token: see hold_undelivered
                    state="cancelled",
                    next_attempt_ms=None,
                    last_error="subscription deleted",
                    updated_ms=now_ms,
                )
            )
            res = conn.execute(
                _s.update()
                .where(_live(org_id, sub_id))
                .values(deleted_ms=now_ms, updated_ms=now_ms, enabled=False)
            )
            if res.rowcount == 0:
                return None  # deleted meanwhile, its deliveries cancelled by that deletion
            _sync_mailbox_webhook(conn, row, None)
            return self._announce_revoked(conn, sub_id)

        async with self._revoking(True) as revocation:
            workers = await self._configure(write, subscription=sub_id)
            if workers is None:
                return False
            revocation.expect(sub_id, workers)
            await revocation.wait()
        return True

    async def routing_candidates(
        self,
        org_id: str,
        *,
        mailbox_id: str | None,
        phone_number_id: str | None,
        identity_id: str | None,
    ) -> list[Subscription]:
        owner = [
            sa.and_(
                _s.c.mailbox_id.is_(None),
                _s.c.phone_number_id.is_(None),
                _s.c.agent_identity_id.is_(None),
            )
        ]
        if mailbox_id is not None:
            owner.append(_s.c.mailbox_id == mailbox_id)
        if phone_number_id is not None:
            owner.append(_s.c.phone_number_id == phone_number_id)
        if identity_id is not None:
            owner.append(_s.c.agent_identity_id == identity_id)
        stmt = sa.select(_s).where(
            _s.c.organization_id == org_id, _s.c.deleted_ms.is_(None), sa.or_(*owner)
        )
        return [rows.subscription(r) for r in await self._all(stmt)]
