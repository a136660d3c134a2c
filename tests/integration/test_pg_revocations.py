"""PostgreSQL: a disabling waits for the workers that listen on its own database, and only
for them (storage/revocations.py). Several Hookline databases may share one cluster: a
worker of another hears nothing of this one's notifications, and waiting for its answer
would hold every disabling up for ACK_WAIT_S."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from hookline.storage.postgres import PostgresStorage

from .conftest import NOW_MS, _delete_all_rows, add_subscription, make_org, make_subscription


class Worker:
    """What a worker's dispatcher gives watch_revocations: what it heard, and whether it
    listens."""

    def __init__(self) -> None:
        self.heard: list[str] = []
        self.listening = asyncio.Event()

    def hearing(self, up: bool) -> None:
        if up:
            self.listening.set()


@contextlib.asynccontextmanager
async def listening_worker(url: str) -> AsyncIterator[Worker]:
    storage = PostgresStorage(url)
    worker = Worker()
    stop = asyncio.Event()
    task = asyncio.create_task(
        storage.watch_revocations(worker.heard.append, stop, hearing=worker.hearing)
    )
    try:
        await asyncio.wait_for(worker.listening.wait(), 10)
        yield worker
    finally:
        stop.set()
        await task
        await storage.close()


async def test_a_disabling_waits_for_its_own_databases_workers_only(
    pg_module_url: str, fresh_pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    here = PostgresStorage(pg_module_url)
    try:
        await _delete_all_rows(here)
        org = await here.ensure_default_organization(make_org())
        sub = await add_subscription(here, make_subscription(org.id))
        async with (
            listening_worker(pg_module_url) as own,
            listening_worker(fresh_pg_url) as other,
        ):
            await here.update_subscription(org.id, sub.id, {"enabled": False}, NOW_MS + 1)
        # its own worker was told, and answered before the request returned
        assert own.heard == [sub.id]
        assert other.heard == []
        # nobody's confirmation was waited out (the other database's worker is not asked)
        assert "did not confirm" not in caplog.text
    finally:
        await here.close()
