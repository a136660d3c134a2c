"""The SQLAlchemy Core implementation shared by both databases.

``SqlStorage`` is the interface's parts, one per area of the domain (``*_sql.py``, with the
queue's transactions in ``*_tx.py``), over the primitives of sql_base.py. A dialect module
(``sqlite.py``, ``postgres.py``) supplies how a write transaction runs, how reads connect,
and the statements where the databases really differ.
"""

from __future__ import annotations

import abc
from contextlib import AbstractAsyncContextManager

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hookline.storage.base import Storage
from hookline.storage.cached_reads import CachedReads
from hookline.storage.console_sql import ConsoleRows
from hookline.storage.group_commit import GroupCommit
from hookline.storage.health_sql import HealthRows
from hookline.storage.limits_sql import SharedLimitsSql
from hookline.storage.migrations import run_upgrade, schema_is_current
from hookline.storage.outage import StorageHealth
from hookline.storage.portal_sql import PortalRows
from hookline.storage.read_cache import ReadCache
from hookline.storage.retention_sql import RetentionSql
from hookline.storage.sealed_sql import SealedSecretsSql
from hookline.storage.tasks_sql import TasksSql


class SqlStorage(
    CachedReads,
    HealthRows,
    ConsoleRows,
    PortalRows,
    SealedSecretsSql,
    RetentionSql,
    SharedLimitsSql,
    TasksSql,
    Storage,
    abc.ABC,
):
    """Everything but the dialect-specific parts."""

    def __init__(self, url: str, engine: AsyncEngine, cache: ReadCache) -> None:
        self.url = url
        #: the connections reads use
        self.engine = engine
        self._cache = cache
        self._publishes = GroupCommit(self._publish_group)
        #: up or down, logged once per outage (outage.py)
        self.health = StorageHealth(self._check_ready)

    def _read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return self.engine.connect()

    # -- lifecycle ----------------------------------------------------------------------------
    async def migrate(self) -> None:
        await self._configure(run_upgrade)

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
