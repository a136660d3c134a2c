"""PostgreSQL: one process serves the publish path's reads from memory while another changes
the configuration (cached_reads.py). Two ``PostgresStorage`` objects on one database stand for
two processes: ``api`` listens and caches, ``other`` writes.

The promise: another process's change reaches the cache as soon as its notification arrives
(here, within a few milliseconds; the tests allow two seconds), and a process that cannot
hear notifications serves nothing from memory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa

from hookline.core.models import ApiKey, Organization
from hookline.storage.postgres import PostgresStorage

from .conftest import (
    NOW_MS,
    add_subscription,
    make_api_key,
    make_org,
    make_outcome,
    make_subscription,
    publish,
    serving_from_memory,
)

SEEN_WITHIN_S = 2.0


@pytest.fixture
def other(pg_storage: PostgresStorage) -> PostgresStorage:
    """Another process's storage, beside the one ``api`` makes."""
    return pg_storage


@pytest.fixture
async def api(pg_module_url: str, other: PostgresStorage) -> AsyncIterator[PostgresStorage]:
    """A storage as an API process runs it: listening, and so caching."""
    st = PostgresStorage(pg_module_url)
    try:
        await serving_from_memory(st)
        yield st
    finally:
        await st.close()


@pytest.fixture
async def org(other: PostgresStorage) -> Organization:
    return await other.ensure_default_organization(make_org())


async def behind_its_back(storage: PostgresStorage, sql: str, **params: Any) -> None:
    """Change rows the way no Hookline process does: without telling anyone."""
    async with storage.engine.begin() as conn:
        await conn.execute(sa.text(sql), params)


async def revoked_unannounced(
    api: PostgresStorage, other: PostgresStorage, org: Organization
) -> str:
    """A key ``api`` holds in memory, then revoked behind its back: ``api`` still serves it
    unrevoked (from memory, so the cache is on). Its hash."""
    key, key_hash = make_api_key(org.id)
    await other.insert_api_key(key, key_hash)
    await cached_key(api, key_hash)
    await behind_its_back(other, "UPDATE api_keys SET revoked_ms = 1 WHERE id = :id", id=key.id)
    cached = await api.api_key_by_hash(key_hash)
    assert cached is not None and cached.revoked_at_ms is None, "served from memory"
    return key_hash


async def cached_key(api: PostgresStorage, key_hash: str) -> ApiKey:
    """Read the key until ``api`` holds it in memory: the same object twice. A read too
    soon after a write of another process is dropped when that write's notification comes
    in (as it should be), so the first read need not stay."""
    async with asyncio.timeout(SEEN_WITHIN_S):
        while True:
            first = await api.api_key_by_hash(key_hash)
            await asyncio.sleep(0.02)  # room for a notification still on its way
            again = await api.api_key_by_hash(key_hash)
            if first is not None and again is first:
                return first


async def eventually(check: Callable[[], Awaitable[bool]]) -> float:
    """Seconds until ``check`` holds; fails after SEEN_WITHIN_S."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < SEEN_WITHIN_S, "the change was not seen in time"
        await asyncio.sleep(0.005)
    return time.monotonic() - started


async def test_reads_are_served_from_memory_while_listening(
    api: PostgresStorage, other: PostgresStorage, org: Organization
) -> None:
    await revoked_unannounced(api, other, org)


async def test_a_key_revoked_by_another_process_is_refused_within_a_moment(
    api: PostgresStorage, other: PostgresStorage, org: Organization
) -> None:
    key, key_hash = make_api_key(org.id)
    await other.insert_api_key(key, key_hash)
    found = await api.api_key_by_hash(key_hash)
    assert found is not None and found.revoked_at_ms is None

    assert await other.revoke_api_key(org.id, key.id, NOW_MS + 1)

    async def revoked() -> bool:
        again = await api.api_key_by_hash(key_hash)
        return again is not None and again.revoked_at_ms == NOW_MS + 1

    await eventually(revoked)


async def test_routing_follows_another_processes_subscriptions(
    api: PostgresStorage, other: PostgresStorage, org: Organization
) -> None:
    async def candidates() -> set[str]:
        subs = await api.routing_candidates(
            org.id, mailbox_id=None, phone_number_id=None, identity_id=None
        )
        return {s.id for s in subs if s.enabled}  # a disabled one's deliveries are held

    assert await candidates() == set()
    sub = await add_subscription(other, make_subscription(org.id))

    async def routed() -> bool:
        return await candidates() == {sub.id}

    await eventually(routed)
    await other.update_subscription(org.id, sub.id, {"enabled": False}, NOW_MS + 1)

    async def unrouted() -> bool:
        return await candidates() == set()

    await eventually(unrouted)


async def test_a_subscription_disabled_by_another_processes_worker_is_seen_disabled(
    api: PostgresStorage, other: PostgresStorage, org: Organization
) -> None:
    sub = await add_subscription(other, make_subscription(org.id))
    await publish(other, [sub])

    async def candidates() -> set[str]:
        subs = await api.routing_candidates(
            org.id, mailbox_id=None, phone_number_id=None, identity_id=None
        )
        return {s.id for s in subs if s.enabled}  # a disabled one's deliveries are held

    await eventually(lambda: _equals(candidates, {sub.id}))
    # the worker's outcome batch disables it (410 Gone): a queue transaction, not a
    # configuration write, and still announced
    [claimed] = await other.claim_due(NOW_MS, 1, 60_000)
    recorded = await other.record_outcomes(
        [make_outcome(claimed, at=NOW_MS + 1, state="failed", status=410, disable_reason="gone")]
    )
    assert [d.subscription.id for d in recorded.disabled] == [sub.id]
    await eventually(lambda: _equals(candidates, set()))


async def test_a_lost_listen_connection_leaves_nothing_stale(
    api: PostgresStorage, other: PostgresStorage, org: Organization, pg_module_url: str
) -> None:
    key_hash = await revoked_unannounced(api, other, org)

    # the database ends the LISTEN connection (a restart, a failover, an idle-session
    # timeout): whatever the process missed meanwhile, its cache must not outlive it
    old = await _listener_pids(pg_module_url)
    assert len(old) == 1
    await _pg(pg_module_url, f"SELECT pg_terminate_backend({old[0]})")
    await eventually(lambda: _new_listener(pg_module_url, old[0]))
    await serving_from_memory(api)

    fresh = await api.api_key_by_hash(key_hash)
    assert fresh is not None and fresh.revoked_at_ms == 1


async def test_without_listening_every_read_goes_to_the_database(
    other: PostgresStorage, org: Organization, pg_module_url: str
) -> None:
    # a read made before it listens (its first read starts that) is not kept
    alone = PostgresStorage(pg_module_url)
    try:
        key, key_hash = make_api_key(org.id)
        await other.insert_api_key(key, key_hash)
        assert await alone.api_key_by_hash(key_hash) is not None
        await behind_its_back(other, "UPDATE api_keys SET revoked_ms = 1 WHERE id = :id", id=key.id)
        fresh = await alone.api_key_by_hash(key_hash)
        assert fresh is not None and fresh.revoked_at_ms == 1
    finally:
        await alone.close()


async def _equals(read: Callable[[], Awaitable[set[str]]], want: set[str]) -> bool:
    return await read() == want


async def _pg(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def _listener_pids(url: str) -> list[int]:
    rows = await _pg(
        url,
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND query = 'LISTEN \"hookline_config\"' AND pid <> pg_backend_pid()",
    )
    return [r["pid"] for r in rows]


async def _new_listener(url: str, old_pid: int) -> bool:
    pids = await _listener_pids(url)
    return bool(pids) and old_pid not in pids
