"""Migration 0007 on a log written before it: each attempt gets its subscription's mailbox and
identity and whether it succeeded, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from alembic import command

from hookline.storage import rows, tables
from hookline.storage.base import Storage
from hookline.storage.factory import open_storage
from hookline.storage.migrations import alembic_config
from hookline.storage.records import AttemptFilter
from hookline.storage.sql import SqlStorage

from .conftest import (
    behind,
    make_attempt,
    make_event,
    make_identity,
    make_mailbox,
    make_org,
    make_subscription,
)

_NEW = ("mailbox_id", "agent_identity_id", "success", "request_headers", "response_headers")


@pytest.fixture
async def at_0005(empty_database_url: str) -> AsyncIterator[Storage]:
    st = open_storage(empty_database_url)
    assert isinstance(st, SqlStorage)
    async with behind(st) as conn:
        await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0006"))
    try:
        yield st
    finally:
        await st.close()


async def _insert_then(st: SqlStorage, table: str, values: dict[str, object]) -> None:
    """Insert ``values`` into ``table`` as the database's schema has it now."""
    async with behind(st) as conn:
        columns = await conn.run_sync(
            lambda c: {col["name"] for col in sa.inspect(c).get_columns(table)}
        )
        kept = {k: v for k, v in values.items() if k in columns}
        await conn.execute(sa.insert(sa.table(table, *map(sa.column, kept))), kept)


async def test_the_log_is_filled_in_by_the_migration(at_0005: Storage) -> None:
    assert isinstance(at_0005, SqlStorage)
    org = await at_0005.ensure_default_organization(make_org())
    ident = make_identity(org.id, "a")
    await at_0005.insert_identity(ident)
    box = make_mailbox(org.id, identity_id=ident.id)
    await at_0005.insert_mailbox(box)
    by_box = make_subscription(org.id, mailbox_id=box.id, owner_identity_id=ident.id)
    by_ident = make_subscription(org.id, agent_identity_id=ident.id, owner_identity_id=ident.id)
    for sub in (by_box, by_ident):
        # written as that schema has it: later migrations add columns today's rows carry
        await _insert_then(at_0005, "subscriptions", rows.subscription_values(sub))
    event = make_event(org.id)
    old = {
        "box_ok": make_attempt(event, sub=by_box, status=204),
        "ident_fail": make_attempt(event, sub=by_ident, status=500),
        "no_answer": make_attempt(event, sub=by_box, status=None),
        "call": make_attempt(event, status=200),
    }
    async with behind(at_0005) as conn:
        for attempt in old.values():
            values = {k: v for k, v in rows.attempt_values(attempt).items() if k not in _NEW}
            await conn.execute(sa.insert(sa.table("attempts", *map(sa.column, values))), values)

    await at_0005.migrate()

    async with at_0005.engine.connect() as conn:
        got = {
            r.id: (r.mailbox_id, r.agent_identity_id, bool(r.success))
            for r in await conn.execute(sa.select(tables.attempts))
        }
    assert got == {
        old["box_ok"].id: (box.id, None, True),
        old["ident_fail"].id: (None, ident.id, False),
        old["no_answer"].id: (box.id, None, False),
        old["call"].id: (None, None, True),
    }
    found = await at_0005.list_attempts(org.id, AttemptFilter(mailbox_id=box.id, success=False))
    assert [a.id for a in found] == [old["no_answer"].id]
