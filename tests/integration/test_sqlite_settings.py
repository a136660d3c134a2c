"""SQLite only: every connection the storage opens keeps a statement's temporary b-trees (an
``IN`` list, a multi-row ``VALUES``) in memory. With SQLite's default they were files, each
created and unlinked in /var/tmp: some 40 a second under load (counted with strace). The
reading connections cannot write, and no commit of the writer copies the WAL back (the
checkpoint job does)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from .conftest import sqlite_file

MEMORY = 2  # PRAGMA temp_store: 0 default (a file), 1 file, 2 memory


async def test_every_connection_keeps_temporary_btrees_in_memory(tmp_path: Path) -> None:
    async with sqlite_file(tmp_path / "settings.db", "org_settings") as (storage, _org):
        async with storage.engine.connect() as conn:  # reads
            assert (await conn.exec_driver_sql("PRAGMA temp_store")).scalar_one() == MEMORY

        def settings(raw: sqlite3.Connection) -> tuple[int, int]:
            [temp_store] = raw.execute("PRAGMA temp_store").fetchone()
            [autocheckpoint] = raw.execute("PRAGMA wal_autocheckpoint").fetchone()
            return temp_store, autocheckpoint

        assert await storage._writer.submit(settings, alone=True) == (MEMORY, 0)


async def test_reading_connections_cannot_write(tmp_path: Path) -> None:
    async with sqlite_file(tmp_path / "readonly.db", "org_readonly") as (storage, _org):
        write = storage._all(sa.text("UPDATE organizations SET name = 'x'"))
        with pytest.raises(sa.exc.OperationalError, match="readonly"):
            await write
