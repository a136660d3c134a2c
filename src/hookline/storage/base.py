"""The storage interface: domain operations, not queries.

One implementation per database (``sqlite.py``, ``postgres.py``), chosen by URL scheme in
``factory.py``. Every implementation passes the same contract suite
(``tests/integration/test_storage_contract.py``).
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable

from hookline.storage.roles.accounts import Accounts
from hookline.storage.roles.deliveries import Deliveries
from hookline.storage.roles.operations import Operations
from hookline.storage.roles.people import People
from hookline.storage.roles.subscriptions import Subscriptions


class Storage(Accounts, Subscriptions, Deliveries, Operations, People, abc.ABC):
    """Every persistent operation Hookline performs."""

    url: str

    # lifecycle -----------------------------------------------------------------------------
    @abc.abstractmethod
    async def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent, safe to race)."""

    @abc.abstractmethod
    async def schema_is_current(self) -> bool: ...

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise if the database cannot be reached."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def watch(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        """Call ``wake`` whenever another process makes deliveries due, until ``stop``.
        Databases without notifications rely on the worker's polling instead."""
        await stop.wait()

    async def watch_revocations(
        self,
        revoked: Callable[[str], None],
        stop: asyncio.Event,
        *,
        hearing: Callable[[bool], None],
    ) -> None:
        """Call ``revoked`` with the id of every subscription another process disables or
        deletes, and answer that process once it returns (see revocations.py), until
        ``stop``; ``hearing(True)`` once they are heard, ``hearing(False)`` while they cannot
        be (the listening connection lost). A database with one process only has nothing to
        hear: its service tells the worker itself."""
        del revoked
        hearing(True)
        await stop.wait()
