"""Organizations, their API keys and signing keys: the SQL shared by both databases."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from hookline.core.errors import Conflict
from hookline.core.models import ApiKey, Organization
from hookline.storage import rows
from hookline.storage import tables as t
from hookline.storage.queue_sql import key_owner
from hookline.storage.records import StoredKey
from hookline.storage.sql_base import SqlBase

_o, _k, _sk = t.organizations, t.api_keys, t.signing_keys


class AccountsSql(SqlBase):
    """Organizations, API keys and signing keys."""

    # -- organizations and keys ---------------------------------------------------------------
    async def ensure_default_organization(self, org: Organization) -> Organization:
        default = sa.select(_o).where(_o.c.is_default.is_(True)).limit(1)

        def write(conn: sa.Connection) -> Organization:
            row = conn.execute(default).mappings().first()
            if row is None:
                conn.execute(
                    self._insert_ignore(_o).values(
                        id=org.id, name=org.name, is_default=True, created_ms=org.created_at_ms
                    )
                )
                row = conn.execute(default).mappings().one()
            return rows.organization(row)

        return await self._configure(write)

    async def get_organization(self, org_id: str) -> Organization | None:
        row = await self._one(sa.select(_o).where(_o.c.id == org_id))
        return rows.organization(row) if row else None

    async def insert_api_key(self, key: ApiKey, key_hash: str) -> None:
        await self._insert(
            _k,
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
        row = await self._one(sa.select(_k).where(_k.c.key_hash == key_hash))
        return rows.api_key(row) if row else None

    async def list_api_keys(self, org_id: str) -> list[ApiKey]:
        stmt = (
            sa.select(_k).where(_k.c.organization_id == org_id).order_by(_k.c.created_ms, _k.c.id)
        )
        return [rows.api_key(r) for r in await self._all(stmt)]

    async def api_keys_by_prefix(self, prefix: str, hash_scheme: str) -> list[tuple[ApiKey, str]]:
        stmt = sa.select(_k).where(
            _k.c.prefix == prefix, _k.c.key_hash.startswith(hash_scheme, autoescape=True)
        )
        return [(rows.api_key(r), str(r["key_hash"])) for r in await self._all(stmt)]

    async def reinstate_api_key(self, key_id: str, *, key_hash: str, prefix: str) -> None:
        stmt = _k.update().where(_k.c.id == key_id)
        await self._configure(
            lambda conn: conn.execute(
                stmt.values(key_hash=key_hash, prefix=prefix, revoked_ms=None)
            )
        )

    async def revoke_api_key(
        self, org_id: str, key_id: str, now_ms: int, *, keep_an_admin: bool = False
    ) -> bool:
        def write(conn: sa.Connection) -> bool:
            if keep_an_admin:
                # the active admin keys are locked (PostgreSQL; SQLite writes one at a time),
                # so that two revocations at once cannot each leave the other the last one
                admins = conn.execute(
                    sa.select(_k.c.id)
                    .where(
                        _k.c.organization_id == org_id,
                        _k.c.scope == "admin",
                        _k.c.revoked_ms.is_(None),
                    )
                    .with_for_update()
                ).scalars()
                if list(admins) == [key_id]:
                    raise Conflict(
                        "this is the organization's last active admin key; create another "
                        "admin key before revoking it"
                    )
            res = conn.execute(
                _k.update()
                .where(_k.c.organization_id == org_id, _k.c.id == key_id, _k.c.revoked_ms.is_(None))
                .values(revoked_ms=now_ms)
            )
            return res.rowcount > 0

        return await self._configure(write)

    async def count_active_admin_keys(self, org_id: str) -> int:
        stmt = sa.select(sa.func.count().label("n")).where(
            _k.c.organization_id == org_id, _k.c.scope == "admin", _k.c.revoked_ms.is_(None)
        )
        row = await self._one(stmt)
        return int(row["n"]) if row else 0

    # -- signing keys -------------------------------------------------------------------------
    async def current_signing_key(self, org_id: str, identity_id: str | None) -> StoredKey | None:
        row = await self._one(
            sa.select(_sk.c.id, _sk.c.key_enc, _sk.c.created_ms)
            .where(
                _sk.c.organization_id == org_id,
                key_owner(identity_id),
                _sk.c.retired_ms.is_(None),
            )
            .order_by(_sk.c.created_ms.desc())
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
        current = sa.and_(
            _sk.c.organization_id == org_id, key_owner(identity_id), _sk.c.retired_ms.is_(None)
        )

        def write(conn: sa.Connection) -> bool:
            self._lock_key_owner(conn, org_id, identity_id)
            found = sa.select(_sk.c.id).where(current).limit(1)
            if only_if_missing and conn.execute(found).first() is not None:
                return False
            conn.execute(_sk.update().where(current).values(retired_ms=now_ms))
            conn.execute(
                _sk.insert().values(
                    id=key_id or str(uuid.uuid4()),
                    organization_id=org_id,
                    agent_identity_id=identity_id,
                    key_enc=key_enc,
                    created_ms=now_ms,
                    retired_ms=None,
                )
            )
            return True

        return await self._configure(write)
