"""The storage's outage mapping and health state: driver errors of an unusable database become
``StorageUnavailable``, other errors keep their own road, and an outage is logged once."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from hookline.core.errors import StorageUnavailable
from hookline.storage import outage
from hookline.storage.outage import StorageHealth, unavailable_reason
from hookline.storage.sqlite import SqliteStorage

from .conftest import until


def _sqlite_error(code: int, message: str) -> sa.exc.OperationalError:
    orig = sqlite3.OperationalError(message)
    orig.sqlite_errorcode = code
    return sa.exc.OperationalError("INSERT …", {}, orig)


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def test_outage_errors_are_named_and_others_are_not() -> None:
    assert unavailable_reason(_sqlite_error(13, "database or disk is full")) == (
        "the database or its disk is full"
    )
    assert unavailable_reason(_sqlite_error(8, "attempt to write a readonly database")) == (
        "the database is read-only"
    )
    assert unavailable_reason(_sqlite_error(778, "disk I/O error")) == "disk I/O error"
    assert unavailable_reason(_sqlite_error(1, "no such table: x")) is None
    assert unavailable_reason(ConnectionRefusedError(111, "Connection refused")) is not None
    assert unavailable_reason(_PgError("57P01")) == "PostgreSQL is shutting down"
    assert unavailable_reason(_PgError("25006")) == "the database is read-only"
    assert unavailable_reason(_PgError("08006")) is not None
    assert unavailable_reason(_PgError("23505")) is None  # a unique violation: a conflict
    assert unavailable_reason(ValueError("a bug")) is None


async def test_an_outage_is_logged_once_and_its_end_once_it_settled(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outage, "SETTLE_S", 0.05)
    probe_ok = False

    async def probe() -> None:
        if not probe_ok:
            raise StorageUnavailable("still full")

    health = StorageHealth(probe)
    with caplog.at_level(logging.WARNING, logger="hookline.storage"):
        for _ in range(50):
            health.failed("the database or its disk is full")
        health.recovered()
        health.failed("the database or its disk is full")  # not over after all
        await asyncio.sleep(0.1)
        assert health.is_down
        probe_ok = True
        health.succeeded()  # a call went through: the probe checks, and the end settles
        for _ in range(100):
            if not health.is_down:
                break
            await asyncio.sleep(0.01)
    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("storage unavailable:") for m in messages) == 1, messages
    assert sum(m.startswith("storage available again") for m in messages) == 1, messages


async def test_a_full_sqlite_database_raises_storage_unavailable_and_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = SqliteStorage(f"sqlite:///{tmp_path}/full.db")
    await storage.migrate()
    try:
        # the database may not grow: every write that needs a page fails as on a full disk
        raw = sqlite3.connect(tmp_path / "full.db")
        pages = raw.execute("PRAGMA page_count").fetchone()[0]
        raw.close()
        await _limit_pages(storage, pages)
        with pytest.raises(StorageUnavailable, match="full"):
            await storage.ping()
        assert storage.health.is_down
        assert await storage.get_organization("org_missing") is None  # reads work meanwhile
        # that read set off a check whether the outage is over: it finds the disk still full
        await until(lambda: storage.health._probing is None)
        assert storage.health.is_down
        await _limit_pages(storage, 1_000_000)
        monkeypatch.setattr(outage, "SETTLE_S", 0.0)
        with pytest.raises(StorageUnavailable):  # passes, but the end is yet to settle
            await storage.ping()
        await asyncio.sleep(0.01)
        await storage.ping()
        assert not storage.health.is_down
    finally:
        await storage.close()


async def _limit_pages(storage: SqliteStorage, pages: int) -> None:
    """``PRAGMA max_page_count`` on the connection every write goes through (it is a
    connection's setting, not the file's)."""
    await storage._writer.submit(
        lambda raw: raw.execute(f"PRAGMA max_page_count={pages}"), alone=True
    )
