"""Storage contract fixtures: a migrated ``Storage`` per backend, and builders of domain values.

Every contract test takes ``storage`` and so runs once on SQLite and once on PostgreSQL. SQLite
gets a new file per test; PostgreSQL one migrated database per module, emptied before each test
(see ``pg_module_url``). Migration tests take ``empty_database_url`` instead: a brand-new
database per test on both.

Modules marked ``memory`` (those of the roles ``storage/memory.py`` implements: subscriptions,
events, deliveries and attempts) run a third time on the in-memory storage, but for their
tests marked ``needs_database`` (several storages on one database, the database's own plans).

The builders make real ``hookline.core.models`` values with ``hookline.core.ids``; tests change
what matters to them with keyword arguments (or ``dataclasses.replace``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from hookline.core import ids
from hookline.core.models import (
    ApiKey,
    Attempt,
    ClaimedDelivery,
    Delivery,
    DeliveryState,
    Event,
    Identity,
    Mailbox,
    Organization,
    PhoneNumber,
    Scope,
    Subscription,
)
from hookline.storage import tables
from hookline.storage.base import Storage
from hookline.storage.factory import open_storage
from hookline.storage.memory import MemoryStorage
from hookline.storage.postgres import PostgresStorage
from hookline.storage.records import NewDeliveries, OutcomeRecord, SubscriptionSecrets
from hookline.storage.sql import SqlStorage
from hookline.storage.sqlite import SqliteStorage

S = TypeVar("S", bound=Storage)

BACKENDS = ("sqlite", "postgresql")

NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SECOND_MS = 1_000
LEASE_MS = 30_000  # how long a claim holds a delivery in these tests

ORG_ID = "org_00000000000000a1"
OTHER_ORG_ID = "org_00000000000000b2"


# -- databases -------------------------------------------------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "memory: also run the module's storage tests on the in-memory storage"
    )
    config.addinivalue_line(
        "markers", "needs_database: a storage test the in-memory storage does not run"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    backends: tuple[str, ...] = BACKENDS
    marked = metafunc.definition.get_closest_marker
    if marked("memory") is not None and marked("needs_database") is None:
        backends += ("memory",)
    metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def empty_database_url(backend: str, request: pytest.FixtureRequest) -> str:
    """A brand-new, empty database of ``backend`` for one test (migration tests).

    Resolved here, outside the event loop, because ``fresh_pg_url`` creates its database with
    ``asyncio.run``.
    """
    url: str = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "fresh_pg_url")
    return url


@pytest.fixture(scope="module")
def pg_module_url(module_pg_url: str) -> str:
    """One migrated PostgreSQL database per test module; ``storage`` empties it per test
    (a database per test would cost more than most tests' own work)."""
    return module_pg_url


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    """SQLite: a new, migrated file per test. PostgreSQL: this module's database, migrated
    (``storage`` empties it). The in-memory storage: its URL, for ``storage`` to make one."""
    if backend == "memory":
        return MemoryStorage.url
    url: str = request.getfixturevalue(
        "migrated_sqlite_url" if backend == "sqlite" else "pg_module_url"
    )
    return url


async def _delete_all_rows(storage: Storage) -> None:
    assert isinstance(storage, SqlStorage)

    def delete(conn: sa.Connection) -> None:
        for table in reversed(tables.metadata.sorted_tables):
            conn.execute(table.delete())

    await storage._configure(delete)


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    """An opened, migrated, empty storage; parametrized (through ``backend``) over SQLite
    and PostgreSQL, and for modules marked ``memory`` the in-memory storage."""
    if database_url == MemoryStorage.url:
        # typed as a whole Storage: the tests that take it use only the roles it implements
        yield cast(Storage, MemoryStorage())
        return
    async with _emptied(open_storage(database_url)) as st:  # migrated already (database_url)
        yield st


@pytest.fixture
async def pg_storage(pg_module_url: str) -> AsyncIterator[PostgresStorage]:
    """A PostgreSQL storage on this module's database, emptied (for PostgreSQL-only tests)."""
    async with _emptied(PostgresStorage(pg_module_url)) as st:
        yield st


@contextlib.asynccontextmanager
async def _emptied(storage: S) -> AsyncIterator[S]:
    """``storage`` with every row deleted, closed when the block ends."""
    try:
        await _delete_all_rows(storage)
        yield storage
    finally:
        await storage.close()


@pytest.fixture
async def org(storage: Storage) -> Organization:
    """The default organization, created."""
    return await storage.ensure_default_organization(make_org())


@contextlib.asynccontextmanager
async def behind(storage: Storage) -> AsyncIterator[AsyncConnection]:
    """A write transaction beside the storage's own, as another process would make it
    (SQLite's reading connections cannot write)."""
    assert isinstance(storage, SqlStorage)
    if not isinstance(storage, SqliteStorage):
        async with storage.engine.begin() as conn:
            yield conn
        return
    url = sa.make_url(storage.url).set(drivername="sqlite+aiosqlite")
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            yield conn
    finally:
        await engine.dispose()


async def add_organization(storage: Storage, org: Organization) -> None:
    """Write a second tenant. The interface only ever creates the default organization, so
    this goes through the shared schema directly."""
    if isinstance(storage, MemoryStorage):
        await storage.insert_organization(org)
        return
    async with behind(storage) as conn:
        await conn.execute(
            tables.organizations.insert().values(
                id=org.id, name=org.name, is_default=False, created_ms=org.created_at_ms
            )
        )


# -- owners and keys -------------------------------------------------------------------------
def make_org(org_id: str = ORG_ID, *, name: str = "Default", at: int = NOW_MS) -> Organization:
    return Organization(id=org_id, name=name, created_at_ms=at)


def key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def make_api_key(
    org_id: str = ORG_ID,
    *,
    scope: Scope = "admin",
    identity_id: str | None = None,
    name: str | None = None,
    at: int = NOW_MS,
) -> tuple[ApiKey, str]:
    """A key and the hash it is stored under."""
    raw = ids.new_api_key()
    key = ApiKey(
        id=ids.new_uuid(),
        organization_id=org_id,
        prefix=raw[:12],
        scope=scope,
        agent_identity_id=identity_id,
        name=name,
        created_at_ms=at,
    )
    return key, key_hash(raw)


def make_identity(org_id: str = ORG_ID, handle: str = "agent-1", *, at: int = NOW_MS) -> Identity:
    return Identity(
        id=ids.new_uuid(), organization_id=org_id, agent_handle=handle, created_at_ms=at
    )


def make_mailbox(
    org_id: str = ORG_ID,
    address: str = "agent@mail.example.com",
    *,
    identity_id: str | None = None,
    webhook_url: str | None = None,
    at: int = NOW_MS,
) -> Mailbox:
    return Mailbox(
        id=ids.new_uuid(),
        organization_id=org_id,
        email_address=address,
        agent_identity_id=identity_id,
        webhook_url=webhook_url,
        created_at_ms=at,
    )


def make_phone_number(
    org_id: str = ORG_ID,
    number: str = "+14155550100",
    *,
    identity_id: str | None = None,
    action: str = "auto_reject",
    webhook_url: str | None = None,
    at: int = NOW_MS,
) -> PhoneNumber:
    return PhoneNumber(
        id=ids.new_uuid(),
        organization_id=org_id,
        number=number,
        agent_identity_id=identity_id,
        incoming_call_action=action,
        incoming_call_webhook_url=webhook_url,
        created_at_ms=at,
    )


# -- subscriptions, events, deliveries, attempts ---------------------------------------------
def make_subscription(
    org_id: str = ORG_ID,
    *,
    url: str = "https://hooks.example.com/a",
    event_types: Sequence[str] = ("message.received",),
    at: int = NOW_MS,
    **fields: Any,
) -> Subscription:
    """An organization-wide subscription unless ``fields`` name an owner."""
    return Subscription(
        id=ids.new_uuid(),
        organization_id=org_id,
        url=url,
        event_types=tuple(event_types),
        created_at_ms=at,
        updated_at_ms=at,
        **fields,
    )


def make_event(
    org_id: str = ORG_ID,
    *,
    type: str = "message.received",
    data: dict[str, Any] | None = None,
    at: int = NOW_MS,
    **fields: Any,
) -> Event:
    return Event(
        id=ids.new_event_id(),
        organization_id=org_id,
        type=type,
        data={"message_id": "msg_1"} if data is None else data,
        occurred_at_ms=at,
        created_at_ms=at,
        **fields,
    )


def make_delivery(
    event: Event,
    sub: Subscription,
    *,
    due_ms: int | None = None,
    state: DeliveryState = "pending",
    at: int | None = None,
) -> Delivery:
    """A fresh delivery of ``event`` to ``sub``, due at ``due_ms`` (default: when created)."""
    created = event.created_at_ms if at is None else at
    return Delivery(
        id=ids.new_uuid(),
        organization_id=event.organization_id,
        event_id=event.id,
        subscription_id=sub.id,
        state=state,
        attempts=0,
        next_attempt_at_ms=created if due_ms is None else due_ms,
        first_attempt_at_ms=None,
        last_attempt_at_ms=None,
        last_status=None,
        last_error=None,
        created_at_ms=created,
        updated_at_ms=created,
    )


def make_attempt(
    event: Event,
    *,
    sub: Subscription | None = None,
    delivery_id: str | None = None,
    status: int | None = 200,
    at: int = NOW_MS,
    **fields: Any,
) -> Attempt:
    values: dict[str, Any] = {
        "id": ids.new_uuid(),
        "organization_id": event.organization_id,
        "delivery_id": delivery_id,
        "subscription_id": sub.id if sub else None,
        "phone_number_id": sub.phone_number_id if sub else None,
        "mailbox_id": sub.mailbox_id if sub else None,
        "agent_identity_id": sub.agent_identity_id if sub else None,
        "event_id": event.id,
        "event_type": event.type,
        "url": sub.url if sub else "https://calls.example.com/incoming",
        "request_payload": '{"id":"' + event.id + '"}',
        "response_status": status,
        "response_body": None if status is None else f"status {status}",
        "error_detail": None if status is not None and 200 <= status < 300 else "failed",
        "duration_ms": 12,
        "is_replay": False,
        "created_at_ms": at,
    }
    values.update(fields)
    return Attempt(**values)


def make_outcome(
    claimed: ClaimedDelivery,
    *,
    at: int,
    state: DeliveryState,
    status: int | None,
    next_ms: int | None = None,
    disable_reason: str | None = None,
    lease_token: str | None = None,
) -> OutcomeRecord:
    """The outcome of one attempt of a claimed delivery, as the dispatcher writes it."""
    d = claimed.delivery
    return OutcomeRecord(
        delivery_id=d.id,
        lease_token=claimed.lease_token if lease_token is None else lease_token,
        attempt=make_attempt(
            claimed.event, sub=claimed.subscription, delivery_id=d.id, status=status, at=at
        ),
        state=state,
        next_attempt_at_ms=next_ms,
        first_attempt_at_ms=d.first_attempt_at_ms or at,
        disable_subscription_reason=disable_reason,
    )


async def until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait until ``condition()`` holds (it is checked every few milliseconds)."""
    async with asyncio.timeout(timeout_s):
        while True:
            if condition():
                return
            await asyncio.sleep(0.005)


async def serving_from_memory(storage: Storage, timeout_s: float = 10.0) -> None:
    """Wait until ``storage`` serves the publish path's reads from its cache (PostgreSQL:
    once its configuration LISTEN, which its first such read starts, is up; SQLite: always)."""
    cache = storage._cache  # type: ignore[attr-defined]
    await storage.api_key_by_hash("no such key")
    async with asyncio.timeout(timeout_s):
        while True:
            if cache.enabled:
                return
            await asyncio.sleep(0.01)


async def add_subscription(storage: Storage, sub: Subscription) -> Subscription:
    await storage.insert_subscription(sub, SubscriptionSecrets())
    return sub


async def publish(
    storage: Storage,
    subs: Sequence[Subscription],
    *,
    event: Event | None = None,
    due_ms: int | None = None,
    at: int = NOW_MS,
) -> tuple[Event, list[Delivery]]:
    """Store an event with one pending delivery per subscription; return what was written."""
    ev = event or make_event(subs[0].organization_id if subs else ORG_ID, at=at)
    deliveries = [make_delivery(ev, s, due_ms=due_ms, at=at) for s in subs]
    [published] = await storage.insert_events_with_deliveries(
        [NewDeliveries(event=ev, deliveries=deliveries)]
    )
    assert published.created and published.deliveries == len(subs)
    return ev, deliveries


def by_id(deliveries: Sequence[Delivery]) -> dict[str, Delivery]:
    return {d.id: d for d in deliveries}


async def reload(storage: Storage, delivery: Delivery) -> Delivery:
    """The stored state of ``delivery`` now."""
    found = by_id(await storage.deliveries_of_event(delivery.organization_id, delivery.event_id))
    return found[delivery.id]


@contextlib.asynccontextmanager
async def sqlite_file(path: Path, org_id: str) -> AsyncIterator[tuple[SqliteStorage, Organization]]:
    """A migrated SQLite storage on its own file, with one organization (SQLite-only tests)."""
    storage = open_storage(f"sqlite:///{path}")
    assert isinstance(storage, SqliteStorage)
    try:
        await storage.migrate()
        org = await storage.ensure_default_organization(
            Organization(id=org_id, name=org_id, created_at_ms=NOW_MS)
        )
        yield storage, org
    finally:
        await storage.close()
