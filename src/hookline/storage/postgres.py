"""PostgreSQL: many API and worker processes, coordinated only through the database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from hookline.storage.sql import SqlStorage

POOL_SIZE = 10
CHANNEL = "hookline_due"
RELISTEN_S = 1.0  # pause before re-connecting a lost LISTEN connection

log = logging.getLogger("hookline.storage")

# SKIP LOCKED: concurrent workers each take different rows, none waits on another
_CLAIM = sa.text(
    """
    UPDATE deliveries AS d
       SET state = 'delivering', lease_token = :token, next_attempt_ms = :until, updated_ms = :now
      FROM (SELECT id FROM deliveries
             WHERE state IN ('pending', 'delivering') AND next_attempt_ms <= :now
              AND subscription_id NOT IN :exclude
             ORDER BY next_attempt_ms
             LIMIT :limit
             FOR UPDATE SKIP LOCKED) AS due
     WHERE d.id = due.id
    RETURNING d.id
    """
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


# the whole batch in one statement: arrays in, the ids that still held their lease out
_RECORD_OUTCOMES = sa.text(
    """
    UPDATE deliveries AS d
       SET state = o.state, attempts = d.attempts + 1, next_attempt_ms = o.next,
           lease_token = NULL, first_attempt_ms = COALESCE(d.first_attempt_ms, o.first),
           last_attempt_ms = o.at, last_status = o.status, last_error = o.error,
           updated_ms = o.at
      FROM unnest(CAST(:ids AS varchar[]), CAST(:tokens AS varchar[]), CAST(:states AS varchar[]),
                  CAST(:nexts AS bigint[]), CAST(:firsts AS bigint[]), CAST(:ats AS bigint[]),
                  CAST(:statuses AS integer[]), CAST(:errors AS text[]))
           AS o(id, token, state, next, first, at, status, error)
     WHERE d.id = o.id AND d.lease_token = o.token AND d.state = 'delivering'
    RETURNING d.id
    """
)


class PostgresStorage(SqlStorage):
    _CLAIM = _CLAIM
    _CLAIM_LANE = _CLAIM_LANE

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        async_url = sa.make_url(url).set(drivername="postgresql+asyncpg")
        engine = create_async_engine(
            async_url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
        )
        super().__init__(url, engine)

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

    async def _lock_key_owner(
        self, conn: AsyncConnection, org_id: str, identity_id: str | None
    ) -> None:
        await conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
            {"k": f"signing-key:{org_id}:{identity_id or ''}"},
        )

    def _announce_due(self, conn: sa.Connection) -> None:
        conn.execute(sa.text(f"NOTIFY {CHANNEL}"))

    async def watch(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        """LISTEN on a dedicated connection; re-connect when it drops."""
        dsn = self.url.replace("postgresql+asyncpg://", "postgresql://", 1)
        while not stop.is_set():
            try:
                conn = await asyncpg.connect(dsn)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("LISTEN connection failed (%s); polling meanwhile", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RELISTEN_S)
                continue
            lost = asyncio.Event()
            try:
                await conn.add_listener(CHANNEL, lambda *_: wake())
                conn.add_termination_listener(lambda *_, lost=lost: lost.set())
                wake()  # anything published while we were not listening
                waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(lost.wait())]
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for w in waiters:
                    w.cancel()
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()
