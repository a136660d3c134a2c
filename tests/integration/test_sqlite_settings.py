"""SQLite only: every connection the storage opens keeps a statement's temporary b-trees (an
``IN`` list, a multi-row ``VALUES``) in memory. With SQLite's default they were files, each
created and unlinked in /var/tmp: some 40 a second under load (counted with strace), a few
of them on the event loop's own connections."""

from __future__ import annotations

from pathlib import Path

from .conftest import sqlite_file

MEMORY = 2  # PRAGMA temp_store: 0 default (a file), 1 file, 2 memory


async def test_every_connection_keeps_temporary_btrees_in_memory(tmp_path: Path) -> None:
    async with sqlite_file(tmp_path / "settings.db", "org_settings") as (storage, _org):
        async with storage.engine.connect() as conn:  # reads and configuration writes
            assert (await conn.exec_driver_sql("PRAGMA temp_store")).scalar_one() == MEMORY
        for engine in (storage._inline, storage._transact_engine):  # publish path, queue
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA temp_store").scalar_one() == MEMORY
