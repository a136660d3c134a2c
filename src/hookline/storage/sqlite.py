"""SQLite: the embedded default. One process: one writer thread, a few reading connections.

Every write goes to the writer (sqlite_writer.py); reads use a small pool of read-only
connections, which in WAL mode never wait for the writer. Its SQL is in sqlite_sql.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from hookline.core.models import Subscription
from hookline.storage import rows, sqlite_sql
from hookline.storage import tables as t
from hookline.storage.outage import guard, unavailable_reason
from hookline.storage.publish_tx import leased_subscriptions
from hookline.storage.read_cache import ReadCache
from hookline.storage.records import NewDeliveries, Published
from hookline.storage.sql import SqlStorage
from hookline.storage.sqlite_wal import Checkpoints
from hookline.storage.sqlite_writer import Writer

T = TypeVar("T")

log = logging.getLogger("hookline.storage")

BUSY_TIMEOUT_MS = 10_000  # another process holding the write lock (a CLI migrate, say)
WAL_SIZE_LIMIT_BYTES = 32 * 1024 * 1024  # the WAL file is cut back to this when started over
READERS = 4  # connections kept for reads
#: a publish writing this many rows or more has them built on the event loop beforehand, so
#: that the writer holds the GIL the loop needs for as little as it can
BUILT_AHEAD_ROWS = 500
#: pages (4 kB each) given back to the file system per step after a prune: a few
#: milliseconds of the one writer's time each, so live traffic goes between them
VACUUM_PAGES_PER_STEP = 2_000
OWNER_ONLY = 0o600  # the database and its -wal and -shm files, like the key file
_INCREMENTAL = 2  # PRAGMA auto_vacuum's value for INCREMENTAL

#: every connection's settings. A statement's temporary b-trees (an IN list, a multi-row
#: VALUES) are kept in memory: on disk each was a file created and unlinked in /var/tmp
_COMMON = ("PRAGMA temp_store=MEMORY", "PRAGMA case_sensitive_like=ON")
_WRITER = (
    # first: a new file takes it only before anything is written (the WAL mode is)
    "PRAGMA auto_vacuum=INCREMENTAL",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    # when a write starts the WAL over, it cuts the file back to this size
    f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}",
    # no commit copies the WAL into the database: the checkpoint job does
    "PRAGMA wal_autocheckpoint=0",
)
# a reader never waits for the writer (WAL), only for a moment of another's recovery
_READER = ("PRAGMA query_only=ON", f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def _settings(pragmas: Sequence[str]) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # the driver would BEGIN lazily, and not at all before DDL: the writer BEGINs itself,
        # and a read is a single statement, its own transaction
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in (*pragmas, *_COMMON):
            cur.execute(pragma)
        cur.close()

    return on_connect


def _owner_only(path: str | None) -> None:
    """Make the database file owner-only before SQLite opens it: SQLite would create it with
    the process's umask (world-readable, usually), and it gives the -wal and -shm files it
    creates the database file's mode. Files an older version made are narrowed too."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    db = Path(path)
    if not db.parent.is_dir():
        return  # SQLite will say so, better than we would
    os.close(os.open(db, os.O_RDWR | os.O_CREAT, OWNER_ONLY))
    for file in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        try:
            if file.stat().st_mode & 0o077:
                file.chmod(OWNER_ONLY)
        except FileNotFoundError:
            continue
        except PermissionError:  # another user's file: leave it, and say so
            log.warning("cannot make %s owner-only", file)


def _incremental_auto_vacuum(conn: sqlite3.Connection) -> None:
    """Make the file give pruned pages back on request (``PRAGMA incremental_vacuum``). A new
    database takes the mode at once; one made by an earlier version needs a ``VACUUM`` (once:
    it rewrites the whole file, which takes a while for a large one)."""
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] == _INCREMENTAL:
        return
    conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != _INCREMENTAL:
        log.info("switching the database to incremental vacuum (once; rewrites the file)")
        conn.execute("VACUUM")


def _vacuum_step(conn: sqlite3.Connection) -> bool:
    """Free up to ``VACUUM_PAGES_PER_STEP`` pages; whether free pages are left. As a script:
    the pragma frees a page per step of its statement, which only a script runs to the end."""
    conn.executescript(f"PRAGMA incremental_vacuum({VACUUM_PAGES_PER_STEP});")
    return bool(conn.execute("PRAGMA freelist_count").fetchone()[0])


def _checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


#: readiness commits this much (one row rewritten): a full disk or a read-only file answers
#: reads, and a write rolled back may never leave the page cache; one of some size must reach
#: the file, as a publish's rows would
_PROBE_BYTES = 65_536
_PROBE = (
    "INSERT INTO readiness (id, checked_ms, pad) VALUES (1, ?, zeroblob(?)) "
    "ON CONFLICT (id) DO UPDATE SET checked_ms = excluded.checked_ms, pad = excluded.pad"
)


def _write_probe(conn: sa.Connection) -> None:
    conn.exec_driver_sql(_PROBE, (int(time.time() * 1000), _PROBE_BYTES))


@guard
class SqliteStorage(sqlite_sql.SqliteStatements, SqlStorage):
    _cache_is_exact: ClassVar[bool] = True

    def __init__(self, url: str) -> None:
        path = sa.make_url(url).database
        _owner_only(path)
        # reads hold no transaction, so a connection going back to the pool needs no reset;
        # an error's message (logged) must not carry a statement's parameters: secrets
        readers = create_async_engine(
            sa.make_url(url).set(drivername="sqlite+aiosqlite"),
            pool_size=READERS,
            max_overflow=READERS,
            pool_reset_on_return=None,
            hide_parameters=True,
        )
        event.listen(readers.sync_engine, "connect", _settings(_READER))
        super().__init__(url, readers, ReadCache())
        self._writes = sa.create_engine(
            sa.make_url(url).set(drivername="sqlite+pysqlite"),
            poolclass=NullPool,
            connect_args={"check_same_thread": False},
            hide_parameters=True,
        )
        event.listen(self._writes, "connect", _settings(_WRITER))
        file = path if path and path != ":memory:" else None
        checkpoints = Checkpoints(file, BUSY_TIMEOUT_MS, self._off_loop_failed) if file else None
        self._file = file
        self._writer = Writer(self._writes.connect, checkpoints)

    async def _transact(self, fn: Callable[[sa.Connection], T]) -> T:
        return await self._writer.submit(fn)

    def _off_loop_failed(self, exc: Exception) -> None:
        """A checkpoint failed (on its thread): a full disk is said once, as for every write."""
        loop = self._writer.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._checkpoint_failed, exc)

    def _checkpoint_failed(self, exc: Exception) -> None:
        reason = unavailable_reason(exc)
        if reason is not None:
            self.health.failed(reason)
        else:
            log.warning("checkpointing the WAL failed: %s", exc)

    async def insert_events_with_deliveries(
        self, items: Sequence[NewDeliveries]
    ) -> list[Published]:
        if not items:
            return []
        by_org: dict[str, list[str]] = {}
        for item in items:
            by_org.setdefault(item.event.organization_id, []).append(item.event.id)
        rows_written = len(items) + sum(len(i.deliveries) for i in items)
        if (
            rows_written >= BUILT_AHEAD_ROWS
            and all(i.lease is None for i in items)
            and sum(len(set(event_ids)) for event_ids in by_org.values()) == len(items)
        ):
            return await self._publish_built_ahead(items, by_org)
        # taken now, before the write is queued: it is checked against the stored rows there
        known = self._known_subscriptions(leased_subscriptions(items))
        return await self._writer.submit_items(self._write_publishes, [(i, known) for i in items])

    def _write_publishes(
        self, conn: sa.Connection, items: list[tuple[NewDeliveries, Mapping[str, Subscription]]]
    ) -> list[Published]:
        """The publishes queued one after another, in one call (the later's subscriptions
        known from memory are the newer)."""
        known: dict[str, Subscription] = {}
        for seen in {id(seen): seen for _, seen in items if seen}.values():
            known.update(seen)
        return self._insert_events_tx(conn, [i for i, _ in items], known)

    async def _publish_built_ahead(
        self, items: Sequence[NewDeliveries], by_org: dict[str, list[str]]
    ) -> list[Published]:
        """A large publish (a batch) all new has its rows built here beforehand: the writer
        then spends its time in SQLite's inserts, mostly without the GIL, while the event loop
        parses the next request. Should an id be stored already, the common road is taken."""
        event_rows = [rows.event_tuple(i.event) for i in items]
        delivery_rows = [rows.delivery_tuple(d, None) for i in items for d in i.deliveries]

        def write(conn: sa.Connection) -> list[Published] | None:
            if any(sqlite_sql.existing_event_ids(conn, org, ids) for org, ids in by_org.items()):
                return self._insert_events_tx(conn, items, {})  # a repeat: the exact road
            sqlite_sql.insert_tuples(conn, t.events, rows.EVENT_COLUMNS, event_rows)
            sqlite_sql.insert_tuples(conn, t.deliveries, rows.DELIVERY_COLUMNS, delivery_rows)
            return None  # all new

        written = await self._transact(write)
        if written is not None:
            return written
        return [Published(event=i.event, deliveries=len(i.deliveries), created=True) for i in items]

    async def _check_ready(self) -> None:
        # a read works on a full disk or a read-only file: readiness means taking writes
        await super()._check_ready()
        await self._transact(_write_probe)

    async def migrate(self) -> None:
        if self._file is not None:
            await self._writer.submit(_incremental_auto_vacuum, alone=True)
        await super().migrate()

    async def reclaim_space(self) -> None:
        """Hand the pages pruning freed back to the file system, a step at a time (the
        queue's transactions go between them), and copy the WAL into the database so the file
        shrinks now rather than at some later checkpoint."""
        if self._file is None:
            return
        while await self._writer.submit(_vacuum_step, alone=True):
            pass
        await self._writer.submit(_checkpoint, alone=True)

    async def close(self) -> None:
        await self.health.close()  # before the writer a probe may be using goes
        await asyncio.to_thread(self._writer.close)
        self._writes.dispose()
        await super().close()
