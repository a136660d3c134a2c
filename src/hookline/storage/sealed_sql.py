"""Sealed secrets at large, on both databases: the master key's check value, and reading and
rewriting every sealed column for a master key rotation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hookline.storage import tables as t
from hookline.storage.records import SEALED_COLUMNS, SealedRow
from hookline.storage.sql_base import SqlBase

#: the one row of ``secret_checks``
CHECK_ID = "master"
#: a subscription's columns a rotation may write besides the sealed ones: the names of its
#: headers with masked values, once their values are sealed
_SUBSCRIPTION_EXTRA = ("headers",)
_EMPTY_HEADERS = ("{}", "")


class SealedSecretsSql(SqlBase):
    """The master key's check value, and the sealed columns a rotation rewrites."""

    async def secret_check(self) -> str | None:
        c = t.secret_checks
        async with self._read() as conn:
            found = await conn.execute(sa.select(c.c.check_enc).where(c.c.id == CHECK_ID))
            value: str | None = found.scalar_one_or_none()
            return value

    async def put_secret_check(self, check_enc: str, now_ms: int) -> bool:
        stmt = t.secret_checks.insert().values(id=CHECK_ID, check_enc=check_enc, created_ms=now_ms)
        try:
            await self._configure(lambda conn: conn.execute(stmt))
        except IntegrityError:  # another process's first start stored one first
            return False
        return True

    async def any_sealed(self) -> SealedRow | None:
        s, k = t.subscriptions, t.signing_keys
        first_sub = sa.select(s.c.id, s.c.secret_enc).where(s.c.secret_enc.is_not(None)).limit(1)
        async with self._read() as conn:
            row = (await conn.execute(first_sub)).mappings().first()
            if row is not None:
                return SealedRow(
                    table="subscriptions", id=row["id"], values={"secret_enc": row["secret_enc"]}
                )
            row = (await conn.execute(sa.select(k.c.id, k.c.key_enc).limit(1))).mappings().first()
        if row is None:
            return None
        return SealedRow(table="signing_keys", id=row["id"], values={"key_enc": row["key_enc"]})

    async def sealed_rows(self, table: str, after_id: str | None, limit: int) -> list[SealedRow]:
        tbl = t.metadata.tables[table]
        columns = SEALED_COLUMNS[table]
        stmt = sa.select(tbl.c.id, *[tbl.c[c] for c in columns]).order_by(tbl.c.id).limit(limit)
        if after_id is not None:
            stmt = stmt.where(tbl.c.id > after_id)
        async with self._read() as conn:
            found = (await conn.execute(stmt)).mappings().all()
        return [
            SealedRow(table=table, id=r["id"], values={c: r[c] for c in columns}) for r in found
        ]

    async def reseal(
        self,
        table: str,
        row_id: str,
        old: Mapping[str, str | None],
        new: Mapping[str, str | None],
    ) -> bool:
        allowed = set(SEALED_COLUMNS[table])
        if table == "subscriptions":
            allowed.update(_SUBSCRIPTION_EXTRA)
        unknown = (set(old) | set(new)) - allowed
        if unknown:
            raise ValueError(f"not a sealed column of {table}: {sorted(unknown)}")
        tbl = t.metadata.tables[table]
        same: list[Any] = [tbl.c.id == row_id]
        for col, value in old.items():
            same.append(tbl.c[col].is_(None) if value is None else tbl.c[col] == value)
        subscription = row_id if table == "subscriptions" else None
        stmt = tbl.update().where(*same).values(**new)
        return await self._configure(
            lambda conn: bool(conn.execute(stmt).rowcount), subscription=subscription
        )

    async def plain_headers(self, limit: int) -> list[tuple[str, str]]:
        s = t.subscriptions
        stmt = (
            sa.select(s.c.id, s.c.headers)
            .where(s.c.headers_enc.is_(None), s.c.headers.not_in(_EMPTY_HEADERS))
            .order_by(s.c.id)
            .limit(limit)
        )
        async with self._read() as conn:
            return [(r[0], r[1]) for r in (await conn.execute(stmt)).all()]
