"""PostgreSQL plans each of Hookline's statements for its tables as they are
(storage/postgres.py): a prepared statement's generic plan, made while a new database's tables
were nearly empty, read them whole on every claim until the first automatic ANALYZE
(docs/perf/2026-12-08-dead-backlogs-on-postgresql.md)."""

from __future__ import annotations

import sqlalchemy as sa

from hookline.storage.postgres import PostgresStorage


def _plan_mode(conn: sa.Connection) -> str:
    return str(conn.exec_driver_sql("SHOW plan_cache_mode").scalar_one())


async def test_statements_are_planned_for_the_tables_as_they_are(
    pg_storage: PostgresStorage,
) -> None:
    assert await pg_storage._transact(_plan_mode) == "force_custom_plan"
