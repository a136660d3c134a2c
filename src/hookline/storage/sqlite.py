"""SQLite: the embedded default. One process; writes serialized in-process."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import sqlite3
import time
from collections.abc import (
    AsyncIterator,
    Callable,
    Collection,
    Hashable,
    Iterable,
    Mapping,
    Sequence,
)
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import StaticPool

from hookline.core.models import Delivery, Event, Subscription
from hookline.storage import rows, sqlite_bulk
from hookline.storage import tables as t
from hookline.storage.cached_reads import ROUTING, CachedReads
from hookline.storage.group_commit import GroupCommit
from hookline.storage.outage import guard, unavailable_reason
from hookline.storage.queue_tx import Row
from hookline.storage.read_cache import ReadCache
from hookline.storage.records import NewDeliveries, Published
from hookline.storage.write_lock import WriteLock

T = TypeVar("T")

log = logging.getLogger("hookline.storage")

BUSY_TIMEOUT_MS = 10_000  # another process holding the write lock (a CLI migrate, say)
INLINE_BUSY_TIMEOUT_MS = 20  # the most an inline read may hold the event loop waiting
CHECKPOINT_INTERVAL_S = 0.5  # the queue's writes are checkpointed at most this often
WAL_SIZE_LIMIT_BYTES = 32 * 1024 * 1024  # the WAL file is cut back to this when started over
WAL_RESTART_FRAMES = 1_000  # past this many pages (4 MB), the WAL is made to start over
THREAD_PUBLISH_ROWS = 500  # a publish writing this many rows or more runs on the thread
#: pages (4 kB each) given back to the file system per transaction after a prune: a few
#: milliseconds of the one writer's time each, so live traffic goes between them
VACUUM_PAGES_PER_STEP = 2_000

OWNER_ONLY = 0o600  # the database and its -wal and -shm files, like the key file
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
    # a statement's temporary b-trees (an IN list, a multi-row VALUES) in memory: on disk,
    # each was a file created and unlinked in /var/tmp (some 40 a second under load, a few
    # on the event loop's own connections)
    cur.execute("PRAGMA temp_store=MEMORY")
    # when a write starts the WAL over, it cuts the file back to this size
    cur.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
    cur.close()


def _on_inline_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA query_only=ON")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA case_sensitive_like=ON")
    # never hold the event loop: a busy database sends the read down the threaded path
    cur.execute(f"PRAGMA busy_timeout={INLINE_BUSY_TIMEOUT_MS}")
    cur.close()


def _on_transact_connect(dbapi_conn: Any, record: Any) -> None:
    _on_connect(dbapi_conn, record)
    # an inline transaction never waits for another process's writer on the event loop: it
    # fails at once and is run again on a thread, where waiting is harmless
    dbapi_conn.execute("PRAGMA busy_timeout=0")
    # nor does its commit copy the WAL into the database (a checkpoint, tens of ms with its
    # fsync): a thread of the storage's own does that (SqliteStorage._maybe_checkpoint)
    dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")


def _is_busy(exc: sa.exc.OperationalError) -> bool:
    return "locked" in str(exc.orig) or "busy" in str(exc.orig)


def _is_routing(key: Hashable) -> bool:
    return isinstance(key, tuple) and key[0] == ROUTING


def _subscriptions_by_id(entries: Iterable[tuple[Hashable, Any]]) -> dict[str, Subscription]:
    """The subscriptions among cached routing candidates (cached_reads.py), by id."""
    return {sub.id: sub for key, subs in entries if _is_routing(key) for sub in subs.values()}


_SUBSCRIPTION_ROW = "SELECT * FROM subscriptions WHERE id = ?"


def _routing_after(
    sub_id: str,
    row: Mapping[Any, Any] | None,
    sub: Subscription | None,
    key: Hashable,
    subs: dict[str, Subscription],
) -> dict[str, Subscription]:
    """Cached routing candidates (``key``: cached_reads.py) once subscription ``sub_id`` is
    stored as ``row``, which is ``sub`` (both None: not at all)."""
    assert isinstance(key, tuple)
    subs.pop(sub_id, None)
    if row is not None and sub is not None and CachedReads.is_routing_candidate(row, *key[1:]):
        subs[sub_id] = sub
    return subs


def _incremental_auto_vacuum(path: str) -> None:
    """Make the file give pruned pages back on request (``PRAGMA incremental_vacuum``). A new
    database takes the mode at once; one made by an earlier version needs a ``VACUUM`` (once:
    it rewrites the whole file, which takes a while for a large one)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        if conn.execute("PRAGMA auto_vacuum").fetchone()[0] == _INCREMENTAL:
            return
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != _INCREMENTAL:
            log.info("switching %s to incremental vacuum (once; rewrites the file)", path)
            conn.execute("VACUUM")
    finally:
        conn.close()


_INCREMENTAL = 2  # PRAGMA auto_vacuum's value for INCREMENTAL


def _on_begin(conn: sa.Connection) -> None:
    # a writer takes the write lock up front: another process's writer then waits for it
    # (busy_timeout) instead of failing when a read lock cannot be upgraded. Reads are single
    # statements, each its own implicit transaction: no BEGIN, no ROLLBACK, two fewer trips
    # to the driver's thread
    if conn.get_execution_options().get(_WRITE, False):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


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
class SqliteStorage(CachedReads):
    def __init__(self, url: str) -> None:
        _owner_only(sa.make_url(url).database)
        async_url = sa.make_url(url).set(drivername="sqlite+aiosqlite")
        # writes end in an explicit COMMIT or ROLLBACK and reads hold no transaction, so a
        # connection going back to the pool needs no reset
        # an error's message (logged) must not carry a statement's parameters: secrets
        engine = create_async_engine(async_url, pool_reset_on_return=None, hide_parameters=True)
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
            hide_parameters=True,
        )
        event.listen(self._inline, "connect", _on_inline_connect)
        # the queue's transactions (queue_tx.py) run whole and inline on a connection of their
        # own: each takes well under a millisecond of SQLite's time, far less than the trips to
        # a driver thread that running them statement by statement through aiosqlite cost
        transact = sa.create_engine(
            sa.make_url(url).set(drivername="sqlite+pysqlite"),
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
            pool_reset_on_return=None,
            hide_parameters=True,
        )
        event.listen(transact, "connect", _on_transact_connect)
        self._transact_engine = transact
        #: held open: a checkout per transaction cost as much as the transaction
        self._transact_conn: sa.Connection | None = None
        self._transact_thread = ThreadPoolExecutor(1, thread_name_prefix="hookline-sqlite")
        self._path = sa.make_url(url).database
        self._checkpoint_thread = ThreadPoolExecutor(1, thread_name_prefix="hookline-wal")
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._checkpoint: asyncio.Future[None] | None = None
        self._checkpointed_at = 0.0
        # SQLite has one writer; queueing here is cheaper than spinning on SQLITE_BUSY, and
        # lets the API's writes go ahead of the worker's (write_lock.py)
        self._write_lock = WriteLock()
        #: transactions queued or running on the thread, which hold the write lock together
        self._on_thread_count = 0
        self._background: GroupCommit[Callable[[sa.Connection], Any], Any] = GroupCommit(
            self._run_on_thread
        )
        self._cache = ReadCache()

    @asynccontextmanager
    async def _write(self, *, subscription: str | None = None) -> AsyncIterator[AsyncConnection]:
        # every write but the queue's may change configuration: the read cache starts over
        if subscription is None:
            with self._cache.writing():
                async with self._write_lock.hold(), self._writer.begin() as conn:
                    yield conn
            return
        # but for one subscription's write, after which its organization's routing
        # candidates are brought up to date instead of read again (10,000 of them take a
        # quarter of a second to read, on the event loop)
        with self._cache.writing(keep=_is_routing):
            async with self._write_lock.hold(), self._writer.begin() as conn:
                yield conn
            if len(self._cache):  # the routing candidates kept
                self._update_routing(subscription)

    def _update_routing(self, sub_id: str) -> None:
        """The cached routing candidates with subscription ``sub_id`` as committed, read
        inline: nothing else runs between the read and the update, so no other write's
        newer row can be overtaken by this one's. Should that fail (a busy database, say),
        the cache is dropped: the write itself has committed, and its caller must hear so."""
        try:
            with self._inline.connect() as conn:
                row = conn.exec_driver_sql(_SUBSCRIPTION_ROW, (sub_id,)).mappings().first()
            sub = rows.subscription(row) if row is not None else None
            self._cache.update(functools.partial(_routing_after, sub_id, row, sub))
        except sa.exc.OperationalError:  # busy: the next publish reads them again
            self._cache.invalidate()
        except Exception:
            log.exception("the routing cache could not follow subscription %s", sub_id)
            self._cache.invalidate()

    async def _transact(self, fn: Callable[[sa.Connection], T], *, background: bool = False) -> T:
        if background:
            return await self._transact_on_thread(fn)
        await self._write_lock.acquire()
        try:
            result = self._run(fn, busy_timeout_ms=0)
        except sa.exc.OperationalError as exc:
            if not _is_busy(exc):
                self._write_lock.release()
                raise
            # another process (a CLI migrate, say) holds SQLite's write lock: wait on the
            # thread. Ours is let go when that transaction ends, not when our caller stops
            # waiting: the connection must not be lent to another transaction meanwhile
            waited = asyncio.get_running_loop().run_in_executor(
                self._transact_thread,
                functools.partial(self._run, fn, busy_timeout_ms=BUSY_TIMEOUT_MS),
            )
            waited.add_done_callback(lambda _: self._write_lock.release())
            result = await asyncio.shield(waited)
        except BaseException:
            self._write_lock.release()
            raise
        else:
            self._write_lock.release()
        self._maybe_checkpoint()
        return result

    async def _transact_on_thread(self, fn: Callable[[sa.Connection], T]) -> T:
        """The worker's transactions run on a thread of their own: SQLite lets go of the GIL
        while it works, so its share of a claim or an outcome batch overlaps the event loop's
        sending (measured: the worker alone 2,900 -> 5,200 deliveries/s). Publishes stay
        inline, where they answer fastest, but for large batches (_insert_events_with_deliveries).

        Those that wait while one runs go together in the next transaction (group commit):
        a claim and an outcome batch then share one commit and one turn of the write lock,
        which under load waited for the busy event loop between every two of them."""
        [result] = await self._background.submit([fn])
        return cast(T, result)

    async def _run_on_thread(self, fns: Sequence[Callable[[sa.Connection], Any]]) -> list[Any]:
        """One transaction on the thread for all of ``fns``, their results in order."""
        return await self._on_thread(lambda conn: [fn(conn) for fn in fns], background=True)

    async def _on_thread(self, fn: Callable[[sa.Connection], T], *, background: bool) -> T:
        """``fn`` in a transaction on the SQLite thread.

        The thread's transactions hold the write lock together: the first takes it, and while
        any is queued or running on the thread, the next goes straight into the thread's queue
        unless someone else waits for the lock (an inline write, a checkpoint); the last to
        end lets it go. The lock is let go on the event loop, which may be busy for a while
        (a batch's parse), and two transactions on the thread need not wait for that between
        them (measured: a worker's transaction held the lock 36 ms for 10.5 ms of its work).

        The lock is let go when the transaction ends, not when its caller stops waiting: a
        cancelled caller must not let another transaction onto the connection meanwhile."""
        if self._on_thread_count == 0 or self._write_lock.waited_for:
            await self._write_lock.acquire(background=background)
            assert self._on_thread_count == 0  # the thread's transactions had let it go
        self._on_thread_count += 1
        try:
            done = asyncio.get_running_loop().run_in_executor(
                self._transact_thread,
                functools.partial(self._run, fn, busy_timeout_ms=BUSY_TIMEOUT_MS),
            )
        except BaseException:
            self._off_thread()
            raise
        done.add_done_callback(lambda _: self._off_thread())
        done.add_done_callback(lambda _: self._maybe_checkpoint())
        return await asyncio.shield(done)

    def _off_thread(self) -> None:
        self._on_thread_count -= 1
        if self._on_thread_count == 0:
            self._write_lock.release()

    def _maybe_checkpoint(self) -> None:
        """Copy the WAL into the database now and then, on a thread (see _checkpoint_now)."""
        if self._path in (None, "", ":memory:"):
            return
        if self._checkpoint is not None and not self._checkpoint.done():
            return
        now = time.monotonic()
        if now - self._checkpointed_at < CHECKPOINT_INTERVAL_S:
            return
        self._checkpointed_at = now
        self._checkpoint = asyncio.ensure_future(self._checkpoint_now())
        self._checkpoint.add_done_callback(self._checkpoint_ended)

    def _checkpoint_ended(self, done: asyncio.Future[None]) -> None:
        exc = None if done.cancelled() else done.exception()
        if exc is None:
            return
        reason = unavailable_reason(exc)
        if reason is not None:
            self.health.failed(reason)  # a full disk: said once, as for every other write
        else:
            log.warning("checkpointing the WAL failed: %s", exc)

    async def _checkpoint_now(self) -> None:
        """A PASSIVE checkpoint on a thread, which never waits for nor blocks a writer or a
        reader, copies the bulk of the WAL. SQLite starts the WAL over only when a write
        finds all of it copied, and under a steady load more is written while a checkpoint
        runs: the WAL grew without end (1 GB in 30 s at 500 publishes/s). So once the WAL is
        past ``WAL_RESTART_FRAMES`` and nearly all copied, the rest is copied with the write
        lock held (a few frames), and the next write starts the WAL over, cut back to
        ``WAL_SIZE_LIMIT_BYTES``."""
        loop = asyncio.get_running_loop()
        in_log, copied = await loop.run_in_executor(self._checkpoint_thread, self._checkpoint_wal)
        if in_log < WAL_RESTART_FRAMES or in_log - copied > WAL_RESTART_FRAMES:
            # (a reader still on an older snapshot held much of the copy back: what is left
            # for the writers to wait on would not be small, so the next turn tries again)
            return
        async with self._write_lock.hold(background=True):
            await loop.run_in_executor(self._checkpoint_thread, self._checkpoint_wal)

    def _checkpoint_wal(self) -> tuple[int, int]:
        """``PRAGMA wal_checkpoint(PASSIVE)``: the frames in the WAL, and how many of them
        are now in the database."""
        [(_busy, in_log, copied)] = (
            self._checkpoint_connection().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        )
        return int(in_log), int(copied)

    def _checkpoint_connection(self) -> sqlite3.Connection:
        """The checkpoint thread's connection (made on first use, on that thread)."""
        if self._checkpoint_conn is None:
            assert self._path is not None
            self._checkpoint_conn = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False
            )
            self._checkpoint_conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return self._checkpoint_conn

    def _run(self, fn: Callable[[sa.Connection], T], *, busy_timeout_ms: int) -> T:
        conn = self._transact_conn
        if conn is None or conn.closed or conn.invalidated:
            conn = self._transact_conn = self._transact_engine.connect()
        raw = conn.connection.dbapi_connection
        assert raw is not None
        if busy_timeout_ms:
            raw.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        try:
            # the write lock up front, as _on_begin does for the other writers
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            result = fn(conn)
            conn.commit()
            return result
        except BaseException:
            conn.rollback()
            raise
        finally:
            if busy_timeout_ms:
                raw.execute("PRAGMA busy_timeout=0")

    async def _insert_events_with_deliveries(
        self, items: Sequence[NewDeliveries]
    ) -> list[Published]:
        """A large publish (a batch, a group of them) runs on the thread, with its rows
        built here beforehand: SQLite's inserts, a third of a batch's time and mostly done without
        the GIL, then overlap the event loop's parsing of the next request. A publish that
        hands deliveries to this process's worker, or repeats an id within itself, keeps the
        common road."""
        rows_written = len(items) + sum(len(i.deliveries) for i in items)
        if rows_written < THREAD_PUBLISH_ROWS or any(i.lease is not None for i in items):
            return await super()._insert_events_with_deliveries(items)
        by_org: dict[str, list[str]] = {}
        for item in items:
            by_org.setdefault(item.event.organization_id, []).append(item.event.id)
        if sum(len(set(event_ids)) for event_ids in by_org.values()) != len(items):
            return await super()._insert_events_with_deliveries(items)
        asked = [(org, json.dumps(event_ids)) for org, event_ids in by_org.items()]
        event_rows = [rows.event_tuple(i.event) for i in items]
        delivery_rows = [rows.delivery_tuple(d, None) for i in items for d in i.deliveries]

        def write(conn: sa.Connection) -> list[Published] | None:
            if any(sqlite_bulk.any_event_stored(conn, org, ids_json) for org, ids_json in asked):
                return self._insert_events_tx(conn, items)  # a repeat: the exact road
            sqlite_bulk.insert_tuples(conn, t.events, rows.EVENT_COLUMNS, event_rows)
            sqlite_bulk.insert_tuples(conn, t.deliveries, rows.DELIVERY_COLUMNS, delivery_rows)
            return None  # all new

        written = await self._on_thread(write, background=False)
        if written is not None:
            return written
        return [Published(event=i.event, deliveries=len(i.deliveries), created=True) for i in items]

    def _insert_ignore(self, table: sa.Table) -> Any:
        return sqlite_insert(table).on_conflict_do_nothing()

    # -- the queue's statements, a step each (sqlite_bulk.py says why) --------------------------
    def _claim_ids(
        self,
        conn: sa.Connection,
        now_ms: int,
        limit: int,
        lease_ms: int,
        token: str,
        exclude: Sequence[str],
        only: str | None,
    ) -> list[str]:
        return sqlite_bulk.claim_ids(
            conn,
            now_ms=now_ms,
            limit=limit,
            until_ms=now_ms + lease_ms,
            token=token,
            exclude=exclude,
            only=only,
        )

    def _claimed(
        self, conn: sa.Connection, delivery_ids: list[str], until_ms: int, now_ms: int
    ) -> list[tuple[Delivery, Event]]:
        return sqlite_bulk.claimed(conn, delivery_ids, until_ms=until_ms, now_ms=now_ms)

    def _subscription_rows(self, conn: sa.Connection, sub_ids: list[str]) -> Sequence[Row]:
        return sqlite_bulk.subscription_rows(conn, sub_ids)

    def _known_subscriptions(
        self, conn: sa.Connection, sub_ids: Collection[str]
    ) -> dict[str, tuple[Subscription, Row]]:
        cached = self._cached_subscriptions(sub_ids)
        if not cached:
            return {}
        known: dict[str, tuple[Subscription, Row]] = {}
        for row in sqlite_bulk.signing_rows(conn, list(cached)):
            sub = cached[row["id"]]
            # one changed since it was cached (by another process, say) has moved its
            # updated_ms: it is read whole
            if row["updated_ms"] == sub.updated_at_ms:
                known[sub.id] = (sub, row)
        return known

    def _cached_subscriptions(self, sub_ids: Collection[str]) -> dict[str, Subscription]:
        """Of ``sub_ids``, the subscriptions the routing cache holds. Exact but for other
        processes' writes: every write of this one drops the cache or, a subscription's own,
        brings its routing candidates up to date before it ends, and the caller holds the
        write lock (no write is under way); a subscription an outcome disabled an instant ago
        has moved its updated_ms. Only on the event loop's thread: a publish that waits out
        another process's write lock runs on a thread (_transact), and the loop changes the
        cache meanwhile."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return {}
        index = self._cache.derived(_subscriptions_by_id)
        if not index:
            return {}
        return {sid: sub for sid in sub_ids if (sub := index.get(sid)) is not None}

    def _insert_rows(
        self, conn: sa.Connection, table: sa.Table, values: Sequence[Mapping[str, Any]]
    ) -> None:
        sqlite_bulk.insert_rows(conn, table, values)

    def _clear_failing(self, conn: sa.Connection, sub_ids: list[str]) -> None:
        sqlite_bulk.clear_failing(conn, sub_ids)

    def _insert_new_events(
        self, conn: sa.Connection, items: Sequence[NewDeliveries]
    ) -> set[tuple[str, str]]:
        # exact without RETURNING: the transaction holds SQLite's write lock (BEGIN IMMEDIATE),
        # so no other writer can store one of these ids between the look-up and the insert
        by_org: dict[str, list[str]] = {}
        for item in items:
            by_org.setdefault(item.event.organization_id, []).append(item.event.id)
        known = {
            (org, event_id)
            for org, event_ids in by_org.items()
            for event_id in sqlite_bulk.existing_event_ids(conn, org, event_ids)
        }
        created: set[tuple[str, str]] = set()
        new_rows: list[tuple[Any, ...]] = []
        for item in items:
            key = (item.event.organization_id, item.event.id)
            if key in known or key in created:
                continue  # stored already, or a later copy within this batch
            created.add(key)
            new_rows.append(rows.event_tuple(item.event))
        sqlite_bulk.insert_tuples(conn, t.events, rows.EVENT_COLUMNS, new_rows)
        return created

    def _insert_deliveries(
        self, conn: sa.Connection, made: Sequence[tuple[Delivery, str | None]]
    ) -> None:
        new_rows = [rows.delivery_tuple(d, token) for d, token in made]
        sqlite_bulk.insert_tuples(conn, t.deliveries, rows.DELIVERY_COLUMNS, new_rows)

    def _apply_outcomes(self, conn: sa.Connection, params: list[dict[str, Any]]) -> int:
        return sqlite_bulk.apply_outcomes(conn, params)

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

    async def _check_ready(self) -> None:
        # a read works on a full disk or a read-only file: readiness means taking writes
        await super()._check_ready()
        await self._transact(_write_probe)

    async def migrate(self) -> None:
        if self._path not in (None, "", ":memory:"):
            await asyncio.to_thread(_incremental_auto_vacuum, self._path)
        await super().migrate()

    async def reclaim_space(self) -> None:
        """Hand the pages pruning freed back to the file system, a step at a time, and copy
        the WAL into the database so the file shrinks now rather than at some later
        checkpoint."""
        if self._path in (None, "", ":memory:"):
            return
        loop = asyncio.get_running_loop()
        # a step per turn of the write lock: the queue's transactions go between them
        more = True
        while more:
            async with self._write_lock.hold(background=True):
                more = await loop.run_in_executor(self._checkpoint_thread, self._vacuum_step)
        async with self._write_lock.hold(background=True):
            await loop.run_in_executor(self._checkpoint_thread, self._checkpoint_wal)

    def _vacuum_step(self) -> bool:
        """Free up to ``VACUUM_PAGES_PER_STEP`` pages; whether free pages are left. On the
        checkpoint thread's own connection, in a transaction of its own: the pragma frees
        a page per step of its statement, which only a script runs to the end (and a
        script commits whatever transaction is open first)."""
        conn = self._checkpoint_connection()
        conn.executescript(f"PRAGMA incremental_vacuum({VACUUM_PAGES_PER_STEP});")
        return bool(conn.execute("PRAGMA freelist_count").fetchone()[0])

    async def close(self) -> None:
        await self.health.close()  # before the threads a probe may be using go
        if self._checkpoint is not None and not self._checkpoint.done():
            self._checkpoint.cancel()  # a thread's checkpoint under way ends with the thread
            await asyncio.gather(self._checkpoint, return_exceptions=True)
        self._inline.dispose()
        self._transact_thread.shutdown(wait=True)
        self._checkpoint_thread.shutdown(wait=True)
        if self._checkpoint_conn is not None:
            self._checkpoint_conn.close()
        if self._transact_conn is not None:
            self._transact_conn.close()
        self._transact_engine.dispose()
        await super().close()
