"""SQLite: the embedded default. One process; writes serialized in-process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import StaticPool

from hookline.storage.sql import SqlStorage

BUSY_TIMEOUT_MS = 10_000  # another process holding the write lock (a CLI migrate, say)
INLINE_BUSY_TIMEOUT_MS = 20  # the most an inline read may hold the event loop waiting

_CLAIM = sa.text(
    """
    UPDATE deliveries
       SET state = 'delivering', lease_token = :token, next_attempt_ms = :until, updated_ms = :now
     WHERE id IN (
           SELECT id FROM deliveries
            WHERE state IN ('pending', 'delivering') AND next_attempt_ms <= :now
              AND subscription_id NOT IN :exclude
            ORDER BY next_attempt_ms
            LIMIT :limit)
    RETURNING id
    """
).bindparams(sa.bindparam("exclude", expanding=True, type_=sa.String()))

# one subscription's due rows (a hot lane), along ix_deliveries_lane
_CLAIM_LANE = sa.text(
    """
    UPDATE deliveries
       SET state = 'delivering', lease_token = :token, next_attempt_ms = :until, updated_ms = :now
     WHERE id IN (
           SELECT id FROM deliveries
            WHERE subscription_id = :only
              AND state IN ('pending', 'delivering') AND next_attempt_ms <= :now
            ORDER BY next_attempt_ms
            LIMIT :limit)
    RETURNING id
    """
)


_WRITE = "hookline_write"  # execution option: this transaction will write


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    # the driver would BEGIN lazily and not at all before DDL; _on_begin does it instead,
    # so that every transaction, a migration's included, is one
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA case_sensitive_like=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.close()


def _on_inline_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA query_only=ON")
    cur.execute("PRAGMA case_sensitive_like=ON")
    # never hold the event loop: a busy database sends the read down the threaded path
    cur.execute(f"PRAGMA busy_timeout={INLINE_BUSY_TIMEOUT_MS}")
    cur.close()


def _on_begin(conn: sa.Connection) -> None:
    # a writer takes the write lock up front: another process's writer then waits for it
    # (busy_timeout) instead of failing when a read lock cannot be upgraded. Reads are single
    # statements, each its own implicit transaction: no BEGIN, no ROLLBACK, two fewer trips
    # to the driver's thread
    if conn.get_execution_options().get(_WRITE, False):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class SqliteStorage(SqlStorage):
    _CLAIM = _CLAIM
    _CLAIM_LANE = _CLAIM_LANE

    def __init__(self, url: str) -> None:
        async_url = sa.make_url(url).set(drivername="sqlite+aiosqlite")
        # writes end in an explicit COMMIT or ROLLBACK and reads hold no transaction, so a
        # connection going back to the pool needs no reset
        engine = create_async_engine(async_url, pool_reset_on_return=None)
        event.listen(engine.sync_engine, "connect", _on_connect)
        event.listen(engine.sync_engine, "begin", _on_begin)
        super().__init__(url, engine)
        self._writer = engine.execution_options(**{_WRITE: True})
        # small indexed reads on the publish path run inline on the event loop: a WAL read
        # takes microseconds, a trip to the driver's thread and back a millisecond under load
        self._inline = sa.create_engine(
            sa.make_url(url).set(drivername="sqlite+pysqlite"),
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
        )
        event.listen(self._inline, "connect", _on_inline_connect)
        # SQLite has one writer; queueing here is cheaper than spinning on SQLITE_BUSY
        self._write_lock = asyncio.Lock()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self._write_lock, self._writer.begin() as conn:
            yield conn

    def _insert_ignore(self, table: sa.Table) -> Any:
        return sqlite_insert(table).on_conflict_do_nothing()

    async def _one_quick(self, stmt: Any) -> Mapping[Any, Any] | None:
        try:
            with self._inline.connect() as conn:
                return conn.execute(stmt).mappings().first()
        except sa.exc.OperationalError:  # busy (recovery, a checkpoint): the threaded road
            return await self._one(stmt)

    async def _all_quick(self, stmt: Any) -> Sequence[Mapping[Any, Any]]:
        try:
            with self._inline.connect() as conn:
                return conn.execute(stmt).mappings().all()
        except sa.exc.OperationalError:
            return await self._all(stmt)

    async def close(self) -> None:
        self._inline.dispose()
        await super().close()
