"""The SQLAlchemy Core implementation shared by both databases.

Dialect modules (``sqlite.py``, ``postgres.py``) supply the engine, the insert that ignores
conflicts, and the claim, where the databases really differ.
"""

from __future__ import annotations

import abc
import json
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hookline.core.errors import Conflict
from hookline.core.models import (
    ApiKey,
    Attempt,
    ClaimedDelivery,
    Delivery,
    Event,
    Identity,
    Mailbox,
    Organization,
    PhoneNumber,
    Subscription,
)
from hookline.storage import rows
from hookline.storage import tables as t
from hookline.storage.attempt_log import Owned, attempts_query, owned_query
from hookline.storage.base import Storage
from hookline.storage.console_sql import ConsoleRows
from hookline.storage.group_commit import GroupCommit
from hookline.storage.health_sql import HealthRows
from hookline.storage.limits_sql import SharedLimitsSql
from hookline.storage.migrations import run_upgrade, schema_is_current
from hookline.storage.outage import StorageHealth
from hookline.storage.portal_sql import PortalRows
from hookline.storage.queue_tx import UNDELIVERED, QueueTransactions, hold_undelivered, key_owner
from hookline.storage.records import (
    AttemptFilter,
    HeldAction,
    NewDeliveries,
    OutcomeRecord,
    Published,
    PullRecorded,
    Recorded,
    StoredKey,
    SubscriptionFilter,
    SubscriptionSecrets,
)
from hookline.storage.retention_sql import RetentionSql
from hookline.storage.revocations import Revocation
from hookline.storage.sealed_sql import SealedSecretsSql
from hookline.storage.tasks_sql import TasksSql

T = TypeVar("T")


class SqlStorage(
    ConsoleRows,
    HealthRows,
    PortalRows,
    SealedSecretsSql,
    RetentionSql,
    SharedLimitsSql,
    QueueTransactions,
    TasksSql,
    Storage,
    abc.ABC,
):
    """Everything but the dialect-specific parts."""

    def __init__(self, url: str, engine: AsyncEngine) -> None:
        self.url = url
        self.engine = engine
        self._publishes: GroupCommit[NewDeliveries, Published] = GroupCommit(
            self._insert_events_with_deliveries
        )
        #: up or down, logged once per outage (outage.py)
        self.health = StorageHealth(self._check_ready)

    # -- running a transaction ---------------------------------------------------------------
    async def _transact(self, fn: Callable[[sa.Connection], T], *, background: bool = False) -> T:
        """Run ``fn`` as one write transaction. ``background``: the worker's own (claims,
        outcomes, releases), which SQLite runs on a thread of its own (see sqlite.py)."""
        async with self._write() as conn:
            return await conn.run_sync(fn)

    @asynccontextmanager
    async def _write(self, *, subscription: str | None = None) -> AsyncIterator[AsyncConnection]:
        """A write transaction. SQLite serializes these in-process (see sqlite.py).
        ``subscription``: the write changes that subscription's row and no other configuration
        but its mailbox's ``webhook_url`` (a dialect may then keep its cached routing)."""
        del subscription
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    # -- lifecycle ----------------------------------------------------------------------------
    async def migrate(self) -> None:
        async with self._write() as conn:
            await conn.run_sync(run_upgrade)

    async def schema_is_current(self) -> bool:
        async with self._read() as conn:
            return await conn.run_sync(schema_is_current)

    async def ping(self) -> None:
        await self._check_ready()
        # ready again only once the outage has settled (outage.py): a nearly full disk takes
        # this check's write and still refuses others
        self.health.recovered()
        self.health.check_settled()

    async def _check_ready(self) -> None:
        """Raise unless the database answers and would take a write (each dialect adds
        how it checks the write without keeping one)."""
        async with self._read() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def close(self) -> None:
        await self.health.close()
        await self.engine.dispose()

    # -- helpers ------------------------------------------------------------------------------
    async def _one(self, stmt: Any) -> Mapping[Any, Any] | None:
        async with self._read() as conn:
            return (await conn.execute(stmt)).mappings().first()

    async def _all(self, stmt: Any) -> Sequence[Mapping[Any, Any]]:
        async with self._read() as conn:
            return (await conn.execute(stmt)).mappings().all()

    async def _one_quick(self, stmt: Any) -> Mapping[Any, Any] | None:
        """A small indexed read on the publish path (SQLite answers it without a thread hop)."""
        return await self._one(stmt)

    async def _all_quick(self, stmt: Any) -> Sequence[Mapping[Any, Any]]:
        return await self._all(stmt)

    async def _insert(self, table: sa.Table, values: Mapping[str, Any], what: str) -> None:
        try:
            async with self._write() as conn:
                await conn.execute(table.insert().values(**values))
        except IntegrityError as exc:
            raise Conflict(f"{what} already exists") from exc

    # -- organizations and keys ---------------------------------------------------------------
    async def ensure_default_organization(self, org: Organization) -> Organization:
        o = t.organizations
        async with self._write() as conn:
            row = (
                (await conn.execute(sa.select(o).where(o.c.is_default.is_(True)).limit(1)))
                .mappings()
                .first()
            )
            if row is None:
                await conn.execute(
                    self._insert_ignore(o).values(
                        id=org.id, name=org.name, is_default=True, created_ms=org.created_at_ms
                    )
                )
                row = (
                    (await conn.execute(sa.select(o).where(o.c.is_default.is_(True)).limit(1)))
                    .mappings()
                    .first()
                )
        assert row is not None
        return rows.organization(row)

    async def get_organization(self, org_id: str) -> Organization | None:
        o = t.organizations
        row = await self._one(sa.select(o).where(o.c.id == org_id))
        return rows.organization(row) if row else None

    async def insert_api_key(self, key: ApiKey, key_hash: str) -> None:
        await self._insert(
            t.api_keys,
            {
                "id": key.id,
                "organization_id": key.organization_id,
                "key_hash": key_hash,
                "prefix": key.prefix,
                "scope": key.scope,
                "agent_identity_id": key.agent_identity_id,
                "name": key.name,
                "created_ms": key.created_at_ms,
                "revoked_ms": None,
            },
            "API key",
        )

    async def api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        k = t.api_keys
        row = await self._one_quick(sa.select(k).where(k.c.key_hash == key_hash))
        return rows.api_key(row) if row else None

    async def list_api_keys(self, org_id: str) -> list[ApiKey]:
        k = t.api_keys
        stmt = sa.select(k).where(k.c.organization_id == org_id).order_by(k.c.created_ms, k.c.id)
        return [rows.api_key(r) for r in await self._all(stmt)]

    async def api_keys_by_prefix(self, prefix: str, hash_scheme: str) -> list[tuple[ApiKey, str]]:
        k = t.api_keys
        stmt = sa.select(k).where(
            k.c.prefix == prefix, k.c.key_hash.startswith(hash_scheme, autoescape=True)
        )
        return [(rows.api_key(r), str(r["key_hash"])) for r in await self._all(stmt)]

    async def reinstate_api_key(self, key_id: str, *, key_hash: str, prefix: str) -> None:
        k = t.api_keys
        async with self._write() as conn:
            await conn.execute(
                k.update()
                .where(k.c.id == key_id)
                .values(key_hash=key_hash, prefix=prefix, revoked_ms=None)
            )

    async def revoke_api_key(
        self, org_id: str, key_id: str, now_ms: int, *, keep_an_admin: bool = False
    ) -> bool:
        k = t.api_keys
        async with self._write() as conn:
            if keep_an_admin:
                # the active admin keys are locked (PostgreSQL; SQLite writes one at a time),
                # so that two revocations at once cannot each leave the other the last one
                admins = (
                    (
                        await conn.execute(
                            sa.select(k.c.id)
                            .where(
                                k.c.organization_id == org_id,
                                k.c.scope == "admin",
                                k.c.revoked_ms.is_(None),
                            )
                            .with_for_update()
                        )
                    )
                    .scalars()
                    .all()
                )
                if list(admins) == [key_id]:
                    raise Conflict(
                        "this is the organization's last active admin key; create another "
                        "admin key before revoking it"
                    )
            res = await conn.execute(
                k.update()
                .where(k.c.organization_id == org_id, k.c.id == key_id, k.c.revoked_ms.is_(None))
                .values(revoked_ms=now_ms)
            )
        return res.rowcount > 0

    async def count_active_admin_keys(self, org_id: str) -> int:
        k = t.api_keys
        stmt = sa.select(sa.func.count()).where(
            k.c.organization_id == org_id, k.c.scope == "admin", k.c.revoked_ms.is_(None)
        )
        async with self._read() as conn:
            return int((await conn.execute(stmt)).scalar_one())

    # -- owners -------------------------------------------------------------------------------
    async def insert_identity(self, identity: Identity) -> None:
        await self._insert(
            t.identities,
            {
                "id": identity.id,
                "organization_id": identity.organization_id,
                "agent_handle": identity.agent_handle,
                "created_ms": identity.created_at_ms,
            },
            f"identity {identity.agent_handle!r}",
        )

    async def identity_by_handle(self, org_id: str, handle: str) -> Identity | None:
        i = t.identities
        row = await self._one_quick(
            sa.select(i).where(i.c.organization_id == org_id, i.c.agent_handle == handle)
        )
        return rows.identity(row) if row else None

    async def identity_by_id(self, org_id: str, identity_id: str) -> Identity | None:
        i = t.identities
        row = await self._one(
            sa.select(i).where(i.c.organization_id == org_id, i.c.id == identity_id)
        )
        return rows.identity(row) if row else None

    async def list_identities(self, org_id: str, limit: int, offset: int) -> list[Identity]:
        i = t.identities
        stmt = (
            sa.select(i)
            .where(i.c.organization_id == org_id)
            .order_by(i.c.created_ms, i.c.id)
            .limit(limit)
            .offset(offset)
        )
        return [rows.identity(r) for r in await self._all(stmt)]

    async def delete_identity(self, org_id: str, identity_id: str) -> None:
        refs = (
            (t.mailboxes, t.mailboxes.c.agent_identity_id, None),
            (t.phone_numbers, t.phone_numbers.c.agent_identity_id, None),
            (t.subscriptions, t.subscriptions.c.owner_identity_id, t.subscriptions.c.deleted_ms),
            (t.api_keys, t.api_keys.c.agent_identity_id, t.api_keys.c.revoked_ms),
        )
        async with self._write() as conn:
            for table, col, gone in refs:
                stmt = sa.select(sa.func.count()).select_from(table).where(col == identity_id)
                if gone is not None:
                    stmt = stmt.where(gone.is_(None))
                if (await conn.execute(stmt)).scalar_one():
                    raise Conflict(
                        f"identity is still referenced by {table.name}; remove those first"
                    )
            # deleted subscriptions, retired keys and revoked API keys keep no reference
            # worth keeping
            await conn.execute(
                t.subscriptions.update()
                .where(
                    t.subscriptions.c.agent_identity_id == identity_id,
                    t.subscriptions.c.deleted_ms.is_not(None),
                )
                .values(agent_identity_id=None)
            )
            await conn.execute(
                t.signing_keys.delete().where(t.signing_keys.c.agent_identity_id == identity_id)
            )
            await conn.execute(
                t.api_keys.update()
                .where(t.api_keys.c.agent_identity_id == identity_id)
                .values(agent_identity_id=None)
            )
            await conn.execute(
                t.identities.delete().where(
                    t.identities.c.organization_id == org_id, t.identities.c.id == identity_id
                )
            )

    async def insert_mailbox(self, mailbox: Mailbox) -> None:
        await self._insert(
            t.mailboxes,
            {
                "id": mailbox.id,
                "organization_id": mailbox.organization_id,
                "email_address": mailbox.email_address,
                "agent_identity_id": mailbox.agent_identity_id,
                "webhook_url": mailbox.webhook_url,
                "created_ms": mailbox.created_at_ms,
            },
            f"mailbox {mailbox.email_address!r}",
        )

    async def mailbox_by_address(self, org_id: str, address: str) -> Mailbox | None:
        m = t.mailboxes
        row = await self._one_quick(
            sa.select(m).where(m.c.organization_id == org_id, m.c.email_address == address)
        )
        return rows.mailbox(row) if row else None

    async def mailbox_by_id(self, org_id: str, mailbox_id: str) -> Mailbox | None:
        m = t.mailboxes
        row = await self._one(
            sa.select(m).where(m.c.organization_id == org_id, m.c.id == mailbox_id)
        )
        return rows.mailbox(row) if row else None

    async def list_mailboxes(
        self, org_id: str, limit: int, offset: int, identity_id: str | None = None
    ) -> list[Mailbox]:
        m = t.mailboxes
        stmt = sa.select(m).where(m.c.organization_id == org_id)
        if identity_id is not None:
            stmt = stmt.where(m.c.agent_identity_id == identity_id)
        stmt = stmt.order_by(m.c.created_ms, m.c.id).limit(limit).offset(offset)
        return [rows.mailbox(r) for r in await self._all(stmt)]

    async def update_mailbox(
        self, org_id: str, mailbox_id: str, changes: Mapping[str, Any]
    ) -> None:
        m = t.mailboxes
        async with self._write() as conn:
            await conn.execute(
                m.update()
                .where(m.c.organization_id == org_id, m.c.id == mailbox_id)
                .values(**changes)
            )
            if "agent_identity_id" in changes:
                await self._follow_owner(
                    conn, org_id, t.subscriptions.c.mailbox_id == mailbox_id, changes
                )

    async def insert_phone_number(self, number: PhoneNumber) -> None:
        await self._insert(
            t.phone_numbers,
            {
                "id": number.id,
                "organization_id": number.organization_id,
                "number": number.number,
                "agent_identity_id": number.agent_identity_id,
                "incoming_call_action": number.incoming_call_action,
                "incoming_call_webhook_url": number.incoming_call_webhook_url,
                "created_ms": number.created_at_ms,
            },
            f"phone number {number.number!r}",
        )

    async def phone_number_by_id(self, org_id: str, number_id: str) -> PhoneNumber | None:
        p = t.phone_numbers
        row = await self._one(
            sa.select(p).where(p.c.organization_id == org_id, p.c.id == number_id)
        )
        return rows.phone_number(row) if row else None

    async def phone_number_by_number(self, org_id: str, number: str) -> PhoneNumber | None:
        p = t.phone_numbers
        row = await self._one_quick(
            sa.select(p).where(p.c.organization_id == org_id, p.c.number == number)
        )
        return rows.phone_number(row) if row else None

    async def list_phone_numbers(
        self, org_id: str, limit: int, offset: int, identity_id: str | None = None
    ) -> list[PhoneNumber]:
        p = t.phone_numbers
        stmt = sa.select(p).where(p.c.organization_id == org_id)
        if identity_id is not None:
            stmt = stmt.where(p.c.agent_identity_id == identity_id)
        stmt = stmt.order_by(p.c.created_ms, p.c.id).limit(limit).offset(offset)
        return [rows.phone_number(r) for r in await self._all(stmt)]

    async def update_phone_number(
        self, org_id: str, number_id: str, changes: Mapping[str, Any]
    ) -> None:
        p = t.phone_numbers
        async with self._write() as conn:
            await conn.execute(
                p.update()
                .where(p.c.organization_id == org_id, p.c.id == number_id)
                .values(**changes)
            )
            if "agent_identity_id" in changes:
                await self._follow_owner(
                    conn, org_id, t.subscriptions.c.phone_number_id == number_id, changes
                )

    @staticmethod
    async def _follow_owner(
        conn: AsyncConnection, org_id: str, owned: Any, changes: Mapping[str, Any]
    ) -> None:
        """A channel's new owner owns its subscriptions too: who may see them, and whose
        signing key signs them, follow the channel."""
        s = t.subscriptions
        await conn.execute(
            s.update()
            .where(s.c.organization_id == org_id, owned)
            .values(owner_identity_id=changes["agent_identity_id"])
        )

    # -- signing keys -------------------------------------------------------------------------
    _key_owner = staticmethod(key_owner)

    async def current_signing_key(self, org_id: str, identity_id: str | None) -> StoredKey | None:
        k = t.signing_keys
        row = await self._one(
            sa.select(k.c.id, k.c.key_enc, k.c.created_ms)
            .where(
                k.c.organization_id == org_id,
                self._key_owner(identity_id),
                k.c.retired_ms.is_(None),
            )
            .order_by(k.c.created_ms.desc())
            .limit(1)
        )
        if row is None:
            return None
        return StoredKey(id=row["id"], key_enc=row["key_enc"], created_ms=row["created_ms"])

    async def put_signing_key(
        self,
        org_id: str,
        identity_id: str | None,
        key_enc: str,
        now_ms: int,
        *,
        only_if_missing: bool,
        key_id: str | None = None,
    ) -> bool:
        k = t.signing_keys
        current = sa.and_(
            k.c.organization_id == org_id, self._key_owner(identity_id), k.c.retired_ms.is_(None)
        )
        async with self._write() as conn:
            await self._lock_key_owner(conn, org_id, identity_id)
            if only_if_missing:
                found = (await conn.execute(sa.select(k.c.id).where(current).limit(1))).first()
                if found is not None:
                    return False
            await conn.execute(k.update().where(current).values(retired_ms=now_ms))
            await conn.execute(
                k.insert().values(
                    id=key_id or str(uuid.uuid4()),
                    organization_id=org_id,
                    agent_identity_id=identity_id,
                    key_enc=key_enc,
                    created_ms=now_ms,
                    retired_ms=None,
                )
            )
        return True

    async def _lock_key_owner(
        self, conn: AsyncConnection, org_id: str, identity_id: str | None
    ) -> None:
        """Serialize key changes of one owner (SQLite: already serialized by the write lock)."""

    # -- subscriptions ------------------------------------------------------------------------
    async def insert_subscription(self, sub: Subscription, secrets: SubscriptionSecrets) -> None:
        values = rows.subscription_values(sub)
        values.update(
            auth_token_enc=secrets.auth_token_enc,
            secret_enc=secrets.secret_enc,
            previous_secret_enc=secrets.previous_secret_enc,
            previous_secret_until_ms=secrets.previous_secret_until_ms,
            headers_enc=secrets.headers_enc,
            deleted_ms=None,
            failing_since_ms=None,
        )
        try:
            async with self._write(subscription=sub.id) as conn:
                await conn.execute(t.subscriptions.insert().values(**values))
        except IntegrityError as exc:
            # the console's add form names the id it creates: sent twice, it meets its own row
            raise Conflict(f"subscription {sub.id!r} already exists") from exc

    def _live_subscription(self, org_id: str, sub_id: str) -> Any:
        s = t.subscriptions
        return sa.and_(s.c.organization_id == org_id, s.c.id == sub_id, s.c.deleted_ms.is_(None))

    async def get_subscription(self, org_id: str, sub_id: str) -> Subscription | None:
        row = await self._one(
            sa.select(t.subscriptions).where(self._live_subscription(org_id, sub_id))
        )
        return rows.subscription(row) if row else None

    async def subscription_secrets(self, org_id: str, sub_id: str) -> SubscriptionSecrets | None:
        s = t.subscriptions
        row = await self._one(
            sa.select(
                s.c.auth_token_enc,
                s.c.secret_enc,
                s.c.previous_secret_enc,
                s.c.previous_secret_until_ms,
                s.c.headers_enc,
            ).where(self._live_subscription(org_id, sub_id))
        )
        return SubscriptionSecrets(**row) if row else None

    async def list_subscriptions(
        self, org_id: str, flt: SubscriptionFilter, limit: int, offset: int
    ) -> list[Subscription]:
        s = t.subscriptions
        stmt = sa.select(s).where(s.c.organization_id == org_id, s.c.deleted_ms.is_(None))
        if flt.mailbox_id is not None:
            stmt = stmt.where(s.c.mailbox_id == flt.mailbox_id)
        if flt.phone_number_id is not None:
            stmt = stmt.where(s.c.phone_number_id == flt.phone_number_id)
        if flt.agent_identity_id is not None:
            stmt = stmt.where(s.c.agent_identity_id == flt.agent_identity_id)
        if flt.owner_identity_id is not None:
            stmt = stmt.where(s.c.owner_identity_id == flt.owner_identity_id)
        if flt.url is not None:
            stmt = stmt.where(s.c.url == flt.url)
        if flt.source is not None:
            stmt = stmt.where(s.c.source == flt.source)
        if flt.event_type is not None:
            # exact element match inside the JSON list, quoted so a prefix never matches
            stmt = stmt.where(s.c.event_types.contains(json.dumps(flt.event_type), autoescape=True))
        stmt = stmt.order_by(s.c.created_ms, s.c.id).limit(limit).offset(offset)
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
        s = t.subscriptions
        values: dict[str, Any] = {"updated_ms": now_ms}
        for fld, v in changes.items():
            col, enc = rows.SUBSCRIPTION_COLUMNS[fld]
            values[col] = enc(v) if enc else v
        if secrets is not None:
            values.update(
                auth_token_enc=secrets.auth_token_enc,
                secret_enc=secrets.secret_enc,
                previous_secret_enc=secrets.previous_secret_enc,
                previous_secret_until_ms=secrets.previous_secret_until_ms,
                headers_enc=secrets.headers_enc,
            )
        if changes.get("enabled") is True:
            values["failing_since_ms"] = None
        disabling = changes.get("enabled") is False
        async with self._revoking(disabling) as revocation:
            async with self._write(subscription=sub_id) as conn:
                res = await conn.execute(
                    s.update().where(self._live_subscription(org_id, sub_id)).values(**values)
                )
                if res.rowcount == 0:
                    return None
                if disabling:
                    reason = changes.get("disabled_reason") or "subscription disabled"
                    await conn.run_sync(hold_undelivered, sub_id, reason, now_ms)
                    workers = await conn.run_sync(self._announce_revoked, sub_id)
                    revocation.expect(sub_id, workers)
                if held is not None:
                    await self._release_held(conn, sub_id, held, now_ms)
                row = (
                    (
                        await conn.execute(
                            sa.select(s).where(self._live_subscription(org_id, sub_id))
                        )
                    )
                    .mappings()
                    .one()
                )
                if "url" in changes:
                    await self._sync_mailbox_webhook(conn, row, row["url"])
            await revocation.wait()
        return rows.subscription(row)

    @asynccontextmanager
    async def _revoking(self, needed: bool) -> AsyncIterator[Revocation]:
        """Hear the workers' answers to a disabling or deletion (see revocations.py), for
        the block; one process (SQLite) has no other worker to hear."""
        del needed
        yield Revocation()

    async def _release_held(
        self, conn: AsyncConnection, sub_id: str, held: HeldAction, now_ms: int
    ) -> None:
        """Send a subscription's held deliveries (pending, due now) or drop them (cancelled,
        kept in the log)."""
        d = t.deliveries
        held_rows = d.update().where(d.c.subscription_id == sub_id, d.c.state == "held")
        if held == "drop":
            await conn.execute(
                held_rows.values(
                    state="cancelled",
                    lease_token=None,
                    next_attempt_ms=None,
                    last_error="held while disabled; dropped on enabling",
                    updated_ms=now_ms,
                )
            )
            return
        res = await conn.execute(
            # the lease an attempt under way held is void from now: its outcome is not written
            held_rows.values(
                state="pending", lease_token=None, next_attempt_ms=now_ms, updated_ms=now_ms
            )
        )
        if res.rowcount:
            await conn.run_sync(self._announce_due)

    @staticmethod
    async def _sync_mailbox_webhook(
        conn: AsyncConnection, sub_row: Mapping[Any, Any], url: str | None
    ) -> None:
        """A mailbox's ``webhook_url`` is the URL of its ``mailbox``-source subscription: keep
        the two in step whichever surface changed the subscription."""
        if sub_row["source"] != "mailbox" or sub_row["mailbox_id"] is None:
            return
        m = t.mailboxes
        mailbox = sa.and_(
            m.c.organization_id == sub_row["organization_id"], m.c.id == sub_row["mailbox_id"]
        )
        await conn.execute(m.update().where(mailbox).values(webhook_url=url))

    async def delete_subscription(self, org_id: str, sub_id: str, now_ms: int) -> bool:
        s, d = t.subscriptions, t.deliveries
        async with self._revoking(True) as revocation:
            async with self._write(subscription=sub_id) as conn:
                row = (
                    (
                        await conn.execute(
                            sa.select(s).where(self._live_subscription(org_id, sub_id))
                        )
                    )
                    .mappings()
                    .first()
                )
                res = await conn.execute(
                    s.update()
                    .where(self._live_subscription(org_id, sub_id))
                    .values(deleted_ms=now_ms, updated_ms=now_ms, enabled=False)
                )
                if row is None or res.rowcount == 0:
                    return False
                await self._sync_mailbox_webhook(conn, row, None)
                await conn.execute(
                    d.update()
                    .where(d.c.subscription_id == sub_id, d.c.state.in_((*UNDELIVERED, "held")))
                    .values(
                        # a leased one keeps its token: see hold_undelivered
                        state="cancelled",
                        next_attempt_ms=None,
                        last_error="subscription deleted",
                        updated_ms=now_ms,
                    )
                )
                revocation.expect(sub_id, await conn.run_sync(self._announce_revoked, sub_id))
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
        s = t.subscriptions
        owner = [
            sa.and_(
                s.c.mailbox_id.is_(None),
                s.c.phone_number_id.is_(None),
                s.c.agent_identity_id.is_(None),
            )
        ]
        if mailbox_id is not None:
            owner.append(s.c.mailbox_id == mailbox_id)
        if phone_number_id is not None:
            owner.append(s.c.phone_number_id == phone_number_id)
        if identity_id is not None:
            owner.append(s.c.agent_identity_id == identity_id)
        stmt = sa.select(s).where(
            s.c.organization_id == org_id,
            s.c.deleted_ms.is_(None),
            sa.or_(*owner),
        )
        return [rows.subscription(r) for r in await self._all_quick(stmt)]

    @staticmethod
    def is_routing_candidate(
        row: Mapping[Any, Any],
        org_id: str,
        mailbox_id: str | None,
        phone_number_id: str | None,
        identity_id: str | None,
    ) -> bool:
        """Whether :meth:`routing_candidates` with these arguments finds this subscription
        row: the same conditions, for one row in memory."""
        if row["organization_id"] != org_id or row["deleted_ms"] is not None:
            return False
        return (
            (
                row["mailbox_id"] is None
                and row["phone_number_id"] is None
                and row["agent_identity_id"] is None
            )
            or (mailbox_id is not None and row["mailbox_id"] == mailbox_id)
            or (phone_number_id is not None and row["phone_number_id"] == phone_number_id)
            or (identity_id is not None and row["agent_identity_id"] == identity_id)
        )

    # -- events and deliveries ----------------------------------------------------------------
    async def insert_events_with_deliveries(
        self, items: Sequence[NewDeliveries]
    ) -> list[Published]:
        # publishes that arrive while one is being written share the next transaction
        return await self._publishes.submit(items)

    async def _insert_events_with_deliveries(
        self, items: Sequence[NewDeliveries]
    ) -> list[Published]:
        return await self._transact(lambda conn: self._insert_events_tx(conn, items))

    async def get_event(self, org_id: str, event_id: str) -> Event | None:
        e = t.events
        row = await self._one(sa.select(e).where(e.c.organization_id == org_id, e.c.id == event_id))
        return rows.event(row) if row else None

    async def recent_events(
        self,
        org_id: str,
        limit: int,
        *,
        before: tuple[int, str] | None = None,
        agent_identity_id: str | None = None,
    ) -> list[Event]:
        e = t.events
        stmt = sa.select(e).where(e.c.organization_id == org_id)
        if before is not None:
            at, event_id = before
            stmt = stmt.where(
                sa.or_(e.c.created_ms < at, sa.and_(e.c.created_ms == at, e.c.id < event_id))
            )
        if agent_identity_id is not None:
            stmt = stmt.where(e.c.agent_identity_id == agent_identity_id)
        stmt = stmt.order_by(e.c.created_ms.desc(), e.c.id.desc()).limit(limit)
        return [rows.event(r) for r in await self._all(stmt)]

    async def deliveries_of_event(
        self, org_id: str, event_id: str, owner_identity_id: str | None = None
    ) -> list[Delivery]:
        d, s = t.deliveries, t.subscriptions
        stmt = sa.select(d).where(d.c.organization_id == org_id, d.c.event_id == event_id)
        if owner_identity_id is not None:
            owned = sa.select(s.c.id).where(s.c.owner_identity_id == owner_identity_id)
            stmt = stmt.where(d.c.subscription_id.in_(owned))
        stmt = stmt.order_by(d.c.created_ms, d.c.id)
        return [rows.delivery(r) for r in await self._all(stmt)]

    async def claim_due(
        self,
        now_ms: int,
        limit: int,
        lease_ms: int,
        exclude_subscriptions: Collection[str] = (),
        *,
        only_subscription: str | None = None,
    ) -> list[ClaimedDelivery]:
        if limit <= 0:
            return []
        return await self._transact(
            lambda conn: self._claim_tx(
                conn, now_ms, limit, lease_ms, exclude_subscriptions, only_subscription
            ),
            background=True,
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
            lambda conn: self._release_tx(conn, delivery_ids, lease_token, now_ms, due_ms),
            background=True,
        )

    async def record_outcomes(
        self, outcomes: Sequence[OutcomeRecord], disable_after_ms: int | None = None
    ) -> Recorded:
        if not outcomes:
            return Recorded(changed=0)
        return await self._transact(
            lambda conn: self._record_outcomes_tx(conn, outcomes, disable_after_ms),
            background=True,
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
        async with self._write() as conn:
            await conn.execute(t.attempts.insert().values(**rows.attempt_values(attempt)))

    async def get_attempt(self, org_id: str, attempt_id: str) -> Attempt | None:
        a = t.attempts
        row = await self._one(
            sa.select(a).where(a.c.organization_id == org_id, a.c.id == attempt_id)
        )
        return rows.attempt(row) if row else None

    async def requeue_failed(self, org_id: str, sub_id: str, since_ms: int, now_ms: int) -> int:
        d = t.deliveries
        async with self._write() as conn:
            res = await conn.execute(
                d.update()
                .where(
                    d.c.organization_id == org_id,
                    d.c.subscription_id == sub_id,
                    d.c.state == "failed",
                    d.c.created_ms >= since_ms,
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
                await conn.run_sync(self._announce_due)
        return int(res.rowcount)

    async def next_due_ms(self, exclude_subscriptions: Collection[str] = ()) -> int | None:
        d = t.deliveries
        # what the workers' claims may take: pull deliveries wait for their consumers
        stmt = sa.select(sa.func.min(d.c.next_attempt_ms).label("due")).where(
            sa.text(t.DUE_PREDICATE)
        )
        if exclude_subscriptions:
            stmt = stmt.where(d.c.subscription_id.not_in(sorted(exclude_subscriptions)))
        # not inline: with hot lanes excluded, the scan for the minimum may be long
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
        d = t.deliveries
        stmt = sa.select(d.c.state, sa.func.count()).group_by(d.c.state)
        if org_id is not None:
            stmt = stmt.where(d.c.organization_id == org_id)
        async with self._read() as conn:
            return {r[0]: int(r[1]) for r in (await conn.execute(stmt)).all()}
