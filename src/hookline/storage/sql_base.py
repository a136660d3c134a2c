"""What every part of the SQL implementation stands on: writes, reads and the dialect's hooks.

The parts (``*_sql.py``, ``*_tx.py``), one per area of the domain, are mixed into
``SqlStorage`` (sql.py); each dialect module (``sqlite.py``, ``postgres.py``) supplies how a
write transaction runs and the few statements where the databases really differ.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hookline.core.errors import Conflict

T = TypeVar("T")
Row = Mapping[Any, Any]


class SqlBase(abc.ABC):
    """The primitives the parts use."""

    @abc.abstractmethod
    async def _transact(self, fn: Callable[[sa.Connection], T]) -> T:
        """Run ``fn`` as one write transaction that changes no configuration (the queue, the
        console's sessions, tasks, limits, retention): the publish path's cached reads stay."""

    @abc.abstractmethod
    async def _configure(
        self, fn: Callable[[sa.Connection], T], *, subscription: str | None = None
    ) -> T:
        """Run ``fn`` as one write transaction that may change configuration (cached_reads.py).
        ``subscription``: it changes that subscription's row and no other configuration but
        its mailbox's ``webhook_url``, so the cached routing may follow it instead of
        starting over."""

    @abc.abstractmethod
    def _read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for reads: each statement sees what was committed when it began."""

    async def _one(self, stmt: Any) -> Row | None:
        async with self._read() as conn:
            return (await conn.execute(stmt)).mappings().first()

    async def _all(self, stmt: Any) -> Sequence[Row]:
        async with self._read() as conn:
            return (await conn.execute(stmt)).mappings().all()

    async def _insert(self, table: sa.Table, values: Mapping[str, Any], what: str) -> None:
        """Insert one configuration row; ``Conflict`` when its key is taken."""
        try:
            await self._configure(lambda conn: conn.execute(table.insert().values(**values)))
        except IntegrityError as exc:
            raise Conflict(f"{what} already exists") from exc

    # -- dialect hooks ------------------------------------------------------------------------
    @abc.abstractmethod
    def _insert_ignore(self, table: sa.Table) -> Any:
        """An INSERT that skips rows whose key exists (``ON CONFLICT DO NOTHING``)."""

    def _lock_key_owner(self, conn: sa.Connection, org_id: str, identity_id: str | None) -> None:
        """Serialize key changes of one owner (SQLite: its one writer does)."""
        del conn, org_id, identity_id

    def _announce_due(self, conn: sa.Connection) -> None:
        """Tell other processes that deliveries fell due (PostgreSQL: NOTIFY). SQLite has
        none to tell: the publisher wakes its own worker."""
        del conn

    def _announce_config(self, conn: sa.Connection) -> None:
        """Tell other processes that configuration changed, so that they drop their cached
        reads (PostgreSQL: NOTIFY, see cached_reads.py). SQLite has no other process."""
        del conn

    def _announce_revoked(self, conn: sa.Connection, sub_id: str) -> frozenset[str]:
        """Tell every worker that the subscription was disabled or deleted, so that none
        starts another attempt of it (PostgreSQL: NOTIFY, see revocations.py); return the
        workers listening, whose acknowledgement the caller may wait for. SQLite's one worker
        is told in the process (SubscriptionService)."""
        del conn, sub_id
        return frozenset()
