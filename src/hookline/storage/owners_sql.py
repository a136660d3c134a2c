"""Owners: identities and their channels (mailboxes, phone numbers), on both databases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from hookline.core.errors import Conflict
from hookline.core.models import Identity, Mailbox, PhoneNumber
from hookline.storage import rows
from hookline.storage import tables as t
from hookline.storage.sql_base import SqlBase

_i, _m, _p, _s = t.identities, t.mailboxes, t.phone_numbers, t.subscriptions

#: what may still refer to an identity: (table, its column, the column that says it is gone)
_REFERENCES = (
    (_m, _m.c.agent_identity_id, None),
    (_p, _p.c.agent_identity_id, None),
    (_s, _s.c.owner_identity_id, _s.c.deleted_ms),
    (t.api_keys, t.api_keys.c.agent_identity_id, t.api_keys.c.revoked_ms),
)


def _follow_owner(conn: sa.Connection, org_id: str, owned: Any, changes: Mapping[str, Any]) -> None:
    """A channel's new owner owns its subscriptions too: who may see them, and whose signing
    key signs them, follow the channel."""
    if "agent_identity_id" in changes:
        conn.execute(
            _s.update()
            .where(_s.c.organization_id == org_id, owned)
            .values(owner_identity_id=changes["agent_identity_id"])
        )


class OwnersSql(SqlBase):
    """Identities, mailboxes and phone numbers."""

    async def insert_identity(self, identity: Identity) -> None:
        await self._insert(
            _i,
            {
                "id": identity.id,
                "organization_id": identity.organization_id,
                "agent_handle": identity.agent_handle,
                "created_ms": identity.created_at_ms,
            },
            f"identity {identity.agent_handle!r}",
        )

    async def identity_by_handle(self, org_id: str, handle: str) -> Identity | None:
        row = await self._one(
            sa.select(_i).where(_i.c.organization_id == org_id, _i.c.agent_handle == handle)
        )
        return rows.identity(row) if row else None

    async def identity_by_id(self, org_id: str, identity_id: str) -> Identity | None:
        row = await self._one(
            sa.select(_i).where(_i.c.organization_id == org_id, _i.c.id == identity_id)
        )
        return rows.identity(row) if row else None

    async def list_identities(self, org_id: str, limit: int, offset: int) -> list[Identity]:
        stmt = (
            sa.select(_i)
            .where(_i.c.organization_id == org_id)
            .order_by(_i.c.created_ms, _i.c.id)
            .limit(limit)
            .offset(offset)
        )
        return [rows.identity(r) for r in await self._all(stmt)]

    async def delete_identity(self, org_id: str, identity_id: str) -> None:
        def write(conn: sa.Connection) -> None:
            for table, col, gone in _REFERENCES:
                stmt = sa.select(sa.func.count()).select_from(table).where(col == identity_id)
                if gone is not None:
                    stmt = stmt.where(gone.is_(None))
                if conn.execute(stmt).scalar_one():
                    raise Conflict(
                        f"identity is still referenced by {table.name}; remove those first"
                    )
            # deleted subscriptions, retired keys and revoked API keys keep no reference
            # worth keeping
            conn.execute(
                _s.update()
                .where(_s.c.agent_identity_id == identity_id, _s.c.deleted_ms.is_not(None))
                .values(agent_identity_id=None)
            )
            conn.execute(
                t.signing_keys.delete().where(t.signing_keys.c.agent_identity_id == identity_id)
            )
            conn.execute(
                t.api_keys.update()
                .where(t.api_keys.c.agent_identity_id == identity_id)
                .values(agent_identity_id=None)
            )
            conn.execute(_i.delete().where(_i.c.organization_id == org_id, _i.c.id == identity_id))

        await self._configure(write)

    # -- mailboxes ----------------------------------------------------------------------------
    async def insert_mailbox(self, mailbox: Mailbox) -> None:
        await self._insert(
            _m,
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
        row = await self._one(
            sa.select(_m).where(_m.c.organization_id == org_id, _m.c.email_address == address)
        )
        return rows.mailbox(row) if row else None

    async def mailbox_by_id(self, org_id: str, mailbox_id: str) -> Mailbox | None:
        row = await self._one(
            sa.select(_m).where(_m.c.organization_id == org_id, _m.c.id == mailbox_id)
        )
        return rows.mailbox(row) if row else None

    async def list_mailboxes(
        self, org_id: str, limit: int, offset: int, identity_id: str | None = None
    ) -> list[Mailbox]:
        stmt = sa.select(_m).where(_m.c.organization_id == org_id)
        if identity_id is not None:
            stmt = stmt.where(_m.c.agent_identity_id == identity_id)
        stmt = stmt.order_by(_m.c.created_ms, _m.c.id).limit(limit).offset(offset)
        return [rows.mailbox(r) for r in await self._all(stmt)]

    async def update_mailbox(
        self, org_id: str, mailbox_id: str, changes: Mapping[str, Any]
    ) -> None:
        def write(conn: sa.Connection) -> None:
            conn.execute(
                _m.update()
                .where(_m.c.organization_id == org_id, _m.c.id == mailbox_id)
                .values(**changes)
            )
            _follow_owner(conn, org_id, _s.c.mailbox_id == mailbox_id, changes)

        await self._configure(write)

    # -- phone numbers ------------------------------------------------------------------------
    async def insert_phone_number(self, number: PhoneNumber) -> None:
        await self._insert(
            _p,
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
        row = await self._one(
            sa.select(_p).where(_p.c.organization_id == org_id, _p.c.id == number_id)
        )
        return rows.phone_number(row) if row else None

    async def phone_number_by_number(self, org_id: str, number: str) -> PhoneNumber | None:
        row = await self._one(
            sa.select(_p).where(_p.c.organization_id == org_id, _p.c.number == number)
        )
        return rows.phone_number(row) if row else None

    async def list_phone_numbers(
        self, org_id: str, limit: int, offset: int, identity_id: str | None = None
    ) -> list[PhoneNumber]:
        stmt = sa.select(_p).where(_p.c.organization_id == org_id)
        if identity_id is not None:
            stmt = stmt.where(_p.c.agent_identity_id == identity_id)
        stmt = stmt.order_by(_p.c.created_ms, _p.c.id).limit(limit).offset(offset)
        return [rows.phone_number(r) for r in await self._all(stmt)]

    async def update_phone_number(
        self, org_id: str, number_id: str, changes: Mapping[str, Any]
    ) -> None:
        def write(conn: sa.Connection) -> None:
            conn.execute(
                _p.update()
                .where(_p.c.organization_id == org_id, _p.c.id == number_id)
                .values(**changes)
            )
            _follow_owner(conn, org_id, _s.c.phone_number_id == number_id, changes)

        await self._configure(write)
