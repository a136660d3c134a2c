"""PostgreSQL: many API and worker processes, coordinated only through the database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from hookline.core.errors import StorageUnavailable
from hookline.storage import tables as t
from hookline.storage.cached_reads import CONFIG_CHANNEL
from hookline.storage.outage import Contended, aborted_for_another, guard, unavailable_reason
from hookline.storage.read_cache import ReadCache
from hookline.storage.revocations import (
    ACK,
    ACK_CHANNEL,
    LISTENING_WORKERS,
    NOTIFY_REVOKE,
    REVOKE_CHANNEL,
    WORKER_APP,
    WORKER_TAG,
    Revocation,
    ack_payload,
)
from hookline.storage.sql import SqlStorage

T = TypeVar("T")

POOL_SIZE = 10
CHANNEL = "hookline_due"
RELISTEN_S = 1.0  # pause before re-connecting a lost LISTEN connection
PING_S = 5.0  # how often a LISTEN connection is asked whether it is still there
PING_TIMEOUT_S = 2.0
CONNECT_TIMEOUT_S = 5.0  # the most a new connection may take before the database counts as down
#: how many times, at most, a transaction aborted for another's sake (a deadlock) is run
TRANSACTION_RUNS = 4
RERUN_WAIT_S = 0.05  # the longest pause before the second run; it grows with each run

log = logging.getLogger("hookline.storage")

_NOTIFY_CONFIG = sa.text(f"NOTIFY {CONFIG_CHANNEL}")
# what a new transaction would be: read-only on a standby or under default_transaction_read_only
_READ_ONLY = sa.text("SELECT current_setting('transaction_read_only')")

# SKIP LOCKED: concurrent workers each take different rows, none waits on another
_CLAIM = sa.text(
    f"""
    UPDATE deliveries AS d
       SET state = 'delivering', lease_token = :token, next_attempt_ms = :until, updated_ms = :now
      FROM (SELECT id FROM deliveries
             WHERE {t.DUE_PREDICATE} AND next_attempt_ms <= :now AND next_attempt_ms > :after
              AND subscription_id NOT IN :exclude
             ORDER BY next_attempt_ms
             LIMIT :limit
             FOR UPDATE SKIP LOCKED) AS due
     WHERE d.id = due.id
    RETURNING d.id
    """  # noqa: S608 - the schema's own predicate, no input
).bindparams(sa.bindparam("exclude", expanding=True, type_=sa.String()))

# one subscription's due rows (a hot lane), along ix_deliveries_lane
_CLAIM_LANE = sa.text(
    """
    UPDATE deliveries AS d
       SET state = 'delivering', lease_token = :token, next_attempt_ms = :until, updated_ms = :now
      FROM (SELECT id FROM deliveries
             WHERE subscription_id = :only
               AND state IN ('pending', 'delivering') AND next_attempt_ms <= :now
             ORDER BY next_attempt_ms
             LIMIT :limit
             FOR UPDATE SKIP LOCKED) AS due
     WHERE d.id = due.id
    RETURNING d.id
    """
)


# the whole batch in one statement: arrays in, the ids that still held their lease out (as
# queue_sql.RECORD_OUTCOME: a delivery taken away by a disabling keeps its state but succeeded)
_RECORD_OUTCOMES = sa.text(
    """
    UPDATE deliveries AS d
       SET state = CASE WHEN d.state = 'delivering' OR o.state = 'succeeded' THEN o.state
                        ELSE d.state END,
           attempts = d.attempts + 1,
           next_attempt_ms = CASE WHEN d.state = 'delivering' THEN o.next END,
           lease_token = NULL, first_attempt_ms = COALESCE(d.first_attempt_ms, o.first),
           last_attempt_ms = o.at, last_status = o.status,
           last_error = CASE WHEN d.state = 'delivering' OR o.state = 'succeeded' THEN o.error
                             ELSE d.last_error END,
           updated_ms = o.at
      FROM unnest(CAST(:ids AS varchar[]), CAST(:tokens AS varchar[]), CAST(:states AS varchar[]),
                  CAST(:nexts AS bigint[]), CAST(:firsts AS bigint[]), CAST(:ats AS bigint[]),
                  CAST(:statuses AS integer[]), CAST(:errors AS text[]))
           AS o(id, token, state, next, first, at, status, error)
     WHERE d.id = o.id AND d.lease_token = o.token
       AND d.state IN ('delivering', 'held', 'cancelled')
    RETURNING d.id
    """
)


#: the advisory lock of the one process pruning (an arbitrary constant of its own)
_PRUNE_LOCK_KEY = 0x686F6F6B_70727565  # "hookprue"
_TRY_PRUNE_LOCK = sa.text(f"SELECT pg_try_advisory_lock({_PRUNE_LOCK_KEY})")
_PRUNE_UNLOCK = sa.text(f"SELECT pg_advisory_unlock({_PRUNE_LOCK_KEY})")


@guard
class PostgresStorage(SqlStorage):
    _CLAIM = _CLAIM
    _CLAIM_LANE = _CLAIM_LANE
    several_workers = True

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        async_url = sa.make_url(url).set(drivername="postgresql+asyncpg")
        engine = create_async_engine(
            async_url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            # a server that does not answer at all is an outage, not a request held open
            connect_args={"timeout": CONNECT_TIMEOUT_S},
            # an error's message (logged) must not carry a statement's parameters: secrets
            hide_parameters=True,
        )
        # on while this process hears other processes' configuration changes (_hear_changes)
        super().__init__(url, engine, ReadCache(enabled=False))
        # reads need no transaction: BEGIN and ROLLBACK were two round trips each
        self._reader = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._hearing: asyncio.Task[None] | None = None
        self._stop_hearing = asyncio.Event()

    @property
    def _dsn(self) -> str:
        """The URL as asyncpg's own connections take it (LISTEN)."""
        return self.url.replace("postgresql+asyncpg://", "postgresql://", 1)

    async def _check_ready(self) -> None:
        # a standby, or a database set read-only, answers SELECT 1 but refuses every write
        async with self._read() as conn:
            read_only = (await conn.execute(_READ_ONLY)).scalar_one()
        if read_only == "on":
            raise StorageUnavailable("the database is read-only")

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with self._reader.connect() as conn:
            yield conn

    async def _transact(self, fn: Callable[[sa.Connection], T]) -> T:
        """Run ``fn`` in a transaction of its own; again, after a short random pause, when
        PostgreSQL aborted it to let another go on (``fn`` runs whole each time: it only
        executes statements, and a rolled-back transaction's NOTIFY is never sent)."""
        run = 1
        while True:
            try:
                async with self.engine.begin() as conn:
                    return await conn.run_sync(fn)
            except sa.exc.DBAPIError as exc:
                if not aborted_for_another(exc):
                    raise
                if run == TRANSACTION_RUNS:
                    raise Contended(
                        f"PostgreSQL aborted a write {run} times for conflicting ones"
                    ) from exc
                log.info(
                    "a write was aborted for a conflicting one; running it again: %s", exc.orig
                )
            await asyncio.sleep(random.uniform(0, RERUN_WAIT_S * run))
            run += 1

    def _announce_config(self, conn: sa.Connection) -> None:
        conn.execute(_NOTIFY_CONFIG)

    def _announce_revoked(self, conn: sa.Connection, sub_id: str) -> frozenset[str]:
        conn.execute(NOTIFY_REVOKE, {"sub_id": sub_id})
        return frozenset(r[0] for r in conn.execute(LISTENING_WORKERS))

    @asynccontextmanager
    async def _revoking(self, needed: bool) -> AsyncIterator[Revocation]:
        revocation = Revocation()
        if not needed:
            yield revocation
            return
        conn = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT_S)
        try:
            await conn.add_listener(ACK_CHANNEL, lambda *args: revocation.heard(args[3]))
            yield revocation
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=PING_TIMEOUT_S)

    async def watch_revocations(
        self,
        revoked: Callable[[str], None],
        stop: asyncio.Event,
        *,
        hearing: Callable[[bool], None],
    ) -> None:
        acks: set[asyncio.Task[None]] = set()

        async def answer(sub_id: str) -> None:
            try:
                async with self._reader.connect() as conn:
                    await conn.execute(ACK, {"payload": ack_payload(sub_id)})
            except Exception as exc:  # the disabling request waits for it a while, then goes on
                log.warning("answering the revocation of subscription %s failed: %s", sub_id, exc)

        def heard(sub_id: str) -> None:
            revoked(sub_id)  # before the answer: nothing of it starts here from now
            task = asyncio.create_task(answer(sub_id))
            acks.add(task)
            task.add_done_callback(acks.discard)

        await self._listen(
            REVOKE_CHANNEL,
            heard,
            stop,
            # heard only once LISTEN is in place; a worker found listening before that waits
            # in vain for it, the request then answering after ACK_WAIT_S
            up=lambda: hearing(True),
            down=lambda: hearing(False),
            application_name=WORKER_APP + WORKER_TAG,
        )

    @asynccontextmanager
    async def prune_lock(self) -> AsyncIterator[bool]:
        """A session advisory lock, held on a connection of its own for the block: one
        worker of many prunes at a time, and a dead one's lock goes with its connection."""
        async with self._reader.connect() as conn:
            got = bool((await conn.execute(_TRY_PRUNE_LOCK)).scalar_one())
            try:
                yield got
            finally:
                if got:
                    await conn.execute(_PRUNE_UNLOCK)

    def _insert_ignore(self, table: sa.Table) -> Any:
        return pg_insert(table).on_conflict_do_nothing()

    def _apply_outcomes(self, conn: sa.Connection, params: list[dict[str, Any]]) -> int:
        res = conn.execute(
            _RECORD_OUTCOMES,
            {
                "ids": [p["b_id"] for p in params],
                "tokens": [p["b_token"] for p in params],
                "states": [p["b_state"] for p in params],
                "nexts": [p["b_next"] for p in params],
                "firsts": [p["b_first"] for p in params],
                "ats": [p["b_at"] for p in params],
                "statuses": [p["b_status"] for p in params],
                "errors": [p["b_error"] for p in params],
            },
        )
        return len(res.all())

    def _lock_key_owner(self, conn: sa.Connection, org_id: str, identity_id: str | None) -> None:
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
            {"k": f"signing-key:{org_id}:{identity_id or ''}"},
        )

    def _announce_due(self, conn: sa.Connection) -> None:
        conn.execute(sa.text(f"NOTIFY {CHANNEL}"))

    async def watch(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        """LISTEN for due deliveries on a dedicated connection; re-connect when it drops."""
        # on (re-)connecting: anything published while we were not listening
        await self._listen(CHANNEL, lambda _: wake(), stop, up=wake, down=lambda: None)

    def _hear_changes(self) -> None:
        """Serve the publish path's reads from memory while LISTENing for other processes'
        configuration changes, from the first such read on; from the database while not
        (cached_reads.py)."""
        if self._hearing is not None or self._stop_hearing.is_set():
            return
        cache = self._cache

        async def hear() -> None:
            try:
                await self._listen(
                    CONFIG_CHANNEL,
                    lambda _: cache.invalidate(),
                    self._stop_hearing,
                    up=lambda: cache.set_enabled(True),
                    down=lambda: cache.set_enabled(False),
                )
            finally:
                cache.set_enabled(False)

        self._hearing = asyncio.create_task(hear(), name="hookline-hear-configuration")

    async def close(self) -> None:
        self._stop_hearing.set()
        if self._hearing is not None:
            await asyncio.gather(self._hearing, return_exceptions=True)
        await super().close()

    async def _listen(
        self,
        channel: str,
        heard: Callable[[str], None],
        stop: asyncio.Event,
        *,
        up: Callable[[], None],
        down: Callable[[], None],
        application_name: str | None = None,
    ) -> None:
        """Call ``heard`` with the payload of every notification on ``channel`` until
        ``stop``; ``up`` once listening, ``down`` when the connection is lost (it is re-made).
        A connection that stops answering counts as lost: a notification missed silently
        would be worse."""
        settings = {"application_name": application_name} if application_name else None
        while not stop.is_set():
            try:
                conn = await asyncpg.connect(
                    self._dsn, timeout=CONNECT_TIMEOUT_S, server_settings=settings
                )
            except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
                # an outage: said once by the health state, not at every try
                self.health.failed(unavailable_reason(exc) or type(exc).__name__)
                log.debug("LISTEN %s connection failed (%s); retrying", channel, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RELISTEN_S)
                continue
            lost = asyncio.Event()
            try:
                await conn.add_listener(channel, lambda *args: heard(args[3]))
                conn.add_termination_listener(lambda *_, lost=lost: lost.set())
                up()
                if self.health.is_down:
                    self.health.succeeded()  # it may be over: check
                await _until_lost(conn, lost, stop)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("LISTEN %s connection lost (%s); re-connecting", channel, exc)
            finally:
                down()
                with contextlib.suppress(Exception):
                    await conn.close(timeout=PING_TIMEOUT_S)


async def _until_lost(conn: asyncpg.Connection, lost: asyncio.Event, stop: asyncio.Event) -> None:
    """Wait for ``stop`` or the connection's end, asking it every PING_S whether it is there."""
    while not stop.is_set() and not lost.is_set():
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(lost.wait())]
        try:
            await asyncio.wait(waiters, timeout=PING_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
        if not stop.is_set() and not lost.is_set():
            try:
                await conn.execute("SELECT 1", timeout=PING_TIMEOUT_S)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                return
