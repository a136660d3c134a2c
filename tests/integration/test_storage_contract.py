"""Storage contract: lifecycle, organizations and API keys, on SQLite and PostgreSQL.

The rest of the contract is split by topic: ``test_storage_owners.py``,
``test_storage_subscriptions.py``, ``test_storage_events.py``, ``test_storage_queue.py`` and
``test_storage_attempts.py``. Every test there takes the ``storage`` fixture, so it runs once per
backend.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from pathlib import Path

import pytest

from hookline.core.errors import Conflict, StorageUnavailable
from hookline.core.models import Organization
from hookline.storage.base import Storage
from hookline.storage.factory import open_storage
from hookline.storage.records import NewDeliveries

from .conftest import (
    NOW_MS,
    OTHER_ORG_ID,
    add_organization,
    add_subscription,
    make_api_key,
    make_delivery,
    make_event,
    make_identity,
    make_org,
    make_subscription,
)

WAKE_TIMEOUT_S = 5.0


# -- lifecycle -------------------------------------------------------------------------------
async def test_ping_answers_on_an_open_database(storage: Storage) -> None:
    await storage.ping()  # raises when it cannot reach the database (next test)


async def test_ping_raises_when_the_database_cannot_be_reached(
    backend: str, tmp_path: Path
) -> None:
    url = (
        f"sqlite:///{tmp_path}/missing-dir/hookline.db"
        if backend == "sqlite"
        else "postgresql://postgres@127.0.0.1:1/hookline"
    )
    st = open_storage(url)
    try:
        # the drivers' errors leave the storage as the domain's one (storage/outage.py)
        with pytest.raises(StorageUnavailable):
            await st.ping()
    finally:
        await st.close()
        await _aiosqlite_threads_stopped()


async def _aiosqlite_threads_stopped() -> None:
    """aiosqlite stops the thread of a connection that failed to open without awaiting it;
    let it finish while this test's event loop still runs."""
    for _ in range(200):
        if not any("_connection_worker_thread" in t.name for t in threading.enumerate()):
            return
        await asyncio.sleep(0.01)


async def test_watch_returns_once_stopped(storage: Storage) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(storage.watch(lambda: None, stop))
    await asyncio.sleep(0.05)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, WAKE_TIMEOUT_S)


async def test_watch_on_postgresql_wakes_when_another_process_makes_work_due(
    fresh_pg_url: str,
) -> None:
    """LISTEN/NOTIFY: a publish through one storage wakes the watcher of another."""
    watcher, publisher = open_storage(fresh_pg_url), open_storage(fresh_pg_url)
    try:
        await watcher.migrate()
        org = await publisher.ensure_default_organization(make_org())
        sub = await add_subscription(publisher, make_subscription(org.id))
        woken = asyncio.Event()
        stop = asyncio.Event()
        task = asyncio.create_task(watcher.watch(woken.set, stop))
        # the watcher wakes once on connecting, for anything published while not listening
        await asyncio.wait_for(woken.wait(), WAKE_TIMEOUT_S)
        woken.clear()
        await asyncio.sleep(0.05)
        assert not woken.is_set()

        ev = make_event(org.id)
        await publisher.insert_events_with_deliveries(
            [NewDeliveries(event=ev, deliveries=[make_delivery(ev, sub)])]
        )
        await asyncio.wait_for(woken.wait(), WAKE_TIMEOUT_S)

        stop.set()
        await asyncio.wait_for(task, WAKE_TIMEOUT_S)
    finally:
        await watcher.close()
        await publisher.close()


async def test_what_is_written_outlives_the_storage_that_wrote_it(storage: Storage) -> None:
    org = await storage.ensure_default_organization(make_org())
    ident = make_identity(org.id)
    await storage.insert_identity(ident)
    await storage.close()

    reopened = open_storage(storage.url)
    try:
        assert await reopened.schema_is_current() is True
        assert await reopened.get_organization(org.id) == org
        assert await reopened.identity_by_id(org.id, ident.id) == ident
    finally:
        await reopened.close()


# -- organizations ---------------------------------------------------------------------------
async def test_ensure_default_organization_creates_it_once(storage: Storage) -> None:
    first = make_org(name="Acme")
    assert await storage.ensure_default_organization(first) == first
    assert await storage.get_organization(first.id) == first

    again = make_org(OTHER_ORG_ID, name="Other", at=NOW_MS + 5)
    assert await storage.ensure_default_organization(again) == first
    assert await storage.get_organization(OTHER_ORG_ID) is None


async def test_get_organization_of_an_unknown_id_is_none(storage: Storage) -> None:
    assert await storage.get_organization("org_missing") is None


# -- API keys --------------------------------------------------------------------------------
async def test_api_key_is_found_by_its_hash_only(storage: Storage, org: Organization) -> None:
    ident = make_identity(org.id)
    await storage.insert_identity(ident)
    key, digest = make_api_key(org.id, scope="agent", identity_id=ident.id, name="ci")
    await storage.insert_api_key(key, digest)

    assert await storage.api_key_by_hash(digest) == key
    assert key.revoked_at_ms is None
    assert await storage.api_key_by_hash("0" * 64) is None


async def test_api_key_hash_is_unique(storage: Storage, org: Organization) -> None:
    key, digest = make_api_key(org.id)
    await storage.insert_api_key(key, digest)
    twin, _ = make_api_key(org.id)
    with pytest.raises(Conflict):
        await storage.insert_api_key(twin, digest)
    assert await storage.list_api_keys(org.id) == [key]


async def test_list_api_keys_is_per_organization_oldest_first(
    storage: Storage, org: Organization
) -> None:
    await add_organization(storage, make_org(OTHER_ORG_ID))
    newer, h1 = make_api_key(org.id, name="newer", at=NOW_MS + 10)
    older, h2 = make_api_key(org.id, name="older", at=NOW_MS)
    foreign, h3 = make_api_key(OTHER_ORG_ID, name="foreign")
    for key, digest in ((newer, h1), (older, h2), (foreign, h3)):
        await storage.insert_api_key(key, digest)

    assert await storage.list_api_keys(org.id) == [older, newer]
    assert await storage.list_api_keys(OTHER_ORG_ID) == [foreign]
    assert await storage.list_api_keys("org_missing") == []


async def test_revoke_api_key_once_and_only_in_its_organization(
    storage: Storage, org: Organization
) -> None:
    key, digest = make_api_key(org.id)
    await storage.insert_api_key(key, digest)

    assert await storage.revoke_api_key(OTHER_ORG_ID, key.id, NOW_MS + 1) is False
    assert await storage.revoke_api_key(org.id, "no-such-key", NOW_MS + 1) is False
    assert (await storage.api_key_by_hash(digest)) == key

    assert await storage.revoke_api_key(org.id, key.id, NOW_MS + 2) is True
    revoked = dataclasses.replace(key, revoked_at_ms=NOW_MS + 2)
    assert await storage.api_key_by_hash(digest) == revoked
    # a second revoke changes nothing, not even the time
    assert await storage.revoke_api_key(org.id, key.id, NOW_MS + 3) is False
    assert await storage.list_api_keys(org.id) == [revoked]


async def test_revoke_keeps_the_last_active_admin_key_when_asked(
    storage: Storage, org: Organization
) -> None:
    await add_organization(storage, make_org(OTHER_ORG_ID))
    ident = make_identity(org.id)
    await storage.insert_identity(ident)
    admin1, h1 = make_api_key(org.id)
    admin2, h2 = make_api_key(org.id)
    agent, h3 = make_api_key(org.id, scope="agent", identity_id=ident.id)
    foreign, h4 = make_api_key(OTHER_ORG_ID)
    for key, digest in ((admin1, h1), (admin2, h2), (agent, h3), (foreign, h4)):
        await storage.insert_api_key(key, digest)

    assert await storage.revoke_api_key(org.id, admin1.id, NOW_MS + 1, keep_an_admin=True)
    with pytest.raises(Conflict, match="last active admin key"):
        await storage.revoke_api_key(org.id, admin2.id, NOW_MS + 2, keep_an_admin=True)
    assert (await storage.api_key_by_hash(h2)) == admin2  # not revoked
    # agent keys, and keys not active or not there, are not concerned
    assert await storage.revoke_api_key(org.id, agent.id, NOW_MS + 2, keep_an_admin=True)
    assert not await storage.revoke_api_key(org.id, admin1.id, NOW_MS + 2, keep_an_admin=True)
    assert not await storage.revoke_api_key(org.id, "no-such-key", NOW_MS + 2, keep_an_admin=True)
    with pytest.raises(Conflict):  # another organization's last admin key is its own
        await storage.revoke_api_key(OTHER_ORG_ID, foreign.id, NOW_MS + 2, keep_an_admin=True)
    # without the flag, as before
    assert await storage.revoke_api_key(org.id, admin2.id, NOW_MS + 3)


async def test_operator_keys_are_found_by_prefix_and_reinstated(
    storage: Storage, org: Organization
) -> None:
    key, _ = make_api_key(org.id)
    key = dataclasses.replace(key, prefix="opk_")
    await storage.insert_api_key(key, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$" + "h" * 43)
    plain, plain_hash = make_api_key(org.id)
    await storage.insert_api_key(dataclasses.replace(plain, prefix="opk_"), plain_hash)

    found = await storage.api_keys_by_prefix("opk_", "$argon2")
    assert found == [(key, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$" + "h" * 43)]
    assert await storage.api_keys_by_prefix("opk_", "$argon%") == []  # no LIKE patterns
    assert await storage.api_keys_by_prefix("opk_", "$argon2x") == []

    assert await storage.revoke_api_key(org.id, key.id, NOW_MS + 1)
    await storage.reinstate_api_key(key.id, key_hash="$argon2id$new", prefix="opk2")
    assert await storage.api_key_by_hash("$argon2id$new") == dataclasses.replace(key, prefix="opk2")
    assert await storage.api_keys_by_prefix("opk_", "$argon2") == []


async def test_count_active_admin_keys(storage: Storage, org: Organization) -> None:
    await add_organization(storage, make_org(OTHER_ORG_ID))
    ident = make_identity(org.id)
    await storage.insert_identity(ident)
    admin1, h1 = make_api_key(org.id)
    admin2, h2 = make_api_key(org.id)
    agent, h3 = make_api_key(org.id, scope="agent", identity_id=ident.id)
    foreign, h4 = make_api_key(OTHER_ORG_ID)
    for key, digest in ((admin1, h1), (admin2, h2), (agent, h3), (foreign, h4)):
        await storage.insert_api_key(key, digest)

    assert await storage.count_active_admin_keys(org.id) == 2
    assert await storage.revoke_api_key(org.id, admin1.id, NOW_MS + 1)
    assert await storage.count_active_admin_keys(org.id) == 1
    assert await storage.revoke_api_key(org.id, agent.id, NOW_MS + 1)
    assert await storage.count_active_admin_keys(org.id) == 1
    assert await storage.count_active_admin_keys(OTHER_ORG_ID) == 1
    assert await storage.count_active_admin_keys("org_missing") == 0
