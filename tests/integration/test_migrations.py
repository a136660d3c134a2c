"""Migrations: from an empty database, ``migrate()`` gives exactly the schema declared in
``hookline.storage.tables``, on SQLite and PostgreSQL, and running it again changes nothing."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hookline.storage import tables
from hookline.storage.base import Storage
from hookline.storage.factory import open_storage
from hookline.storage.migrations import head_revision
from hookline.storage.sql import SqlStorage

from .conftest import behind

VERSION_TABLE = "alembic_version"

#: how each database reports a declared type it stores under another name
_TYPE_ALIASES = {"postgresql": {"FLOAT": "DOUBLE PRECISION"}}

Schema = dict[str, Any]


@pytest.fixture
async def empty(empty_database_url: str) -> AsyncIterator[Storage]:
    """A storage on an empty, never migrated database."""
    st = open_storage(empty_database_url)
    try:
        yield st
    finally:
        await st.close()


async def _run(storage: Storage, fn: Any) -> Any:
    assert isinstance(storage, SqlStorage)
    async with storage.engine.connect() as conn:
        return await conn.run_sync(fn)


def _text(clause: object) -> str | None:
    """SQL text of a clause or string (clauses refuse ``bool()``, so test for None)."""
    return None if clause is None else str(clause)


def _predicate(text: str | None) -> tuple[str, ...] | None:
    """A partial index's WHERE clause in a form both databases' spellings reduce to: for a
    list of states, the literals it names (PostgreSQL: ``(state)::text = ANY
    (ARRAY['pending'::character varying…``); else the condition without brackets, in lower
    case, SQLite's false (``0``) as PostgreSQL's."""
    if text is None:
        return None
    if "state" in text:
        return tuple(sorted(re.findall(r"'([^']*)'", text)))
    plain = " ".join(text.replace("(", " ").replace(")", " ").lower().split())
    return (re.sub(r"= 0$", "= false", plain),)


def _default_text(arg: object, dialect: sa.Dialect) -> str:
    """A declared server default as the database spells it: an expression (``false()``) is
    compiled for it (SQLite has no boolean literal: ``0``), a plain string stays as it is."""
    if isinstance(arg, sa.ClauseElement):
        return str(arg.compile(dialect=dialect))
    return str(arg)


def _declared(dialect: sa.Dialect) -> Schema:
    """The schema of ``tables.metadata``, in the shape ``_reflected`` gives."""
    aliases = _TYPE_ALIASES.get(dialect.name, {})
    out: Schema = {}
    for t in tables.metadata.sorted_tables:
        type_names = [c.type.compile(dialect=dialect) for c in t.columns]
        out[t.name] = {
            "columns": [
                (c.name, aliases.get(name, name), c.nullable)
                for c, name in zip(t.columns, type_names, strict=True)
            ],
            "server_defaults": {
                c.name: _default_text(c.server_default.arg, dialect)  # type: ignore[attr-defined]
                for c in t.columns
                if c.server_default is not None
            },
            "primary_key": [c.name for c in t.primary_key.columns],
            "unique": sorted(
                tuple(c.name for c in u.columns)
                for u in t.constraints
                if isinstance(u, sa.UniqueConstraint)
            ),
            "foreign_keys": sorted(
                (
                    tuple(fk.column_keys),
                    fk.referred_table.name,
                    tuple(e.column.name for e in fk.elements),
                )
                for fk in t.foreign_key_constraints
            ),
            "indexes": {
                ix.name: (
                    tuple(c.name for c in ix.columns),
                    bool(ix.unique),
                    _predicate(_text(ix.dialect_options[dialect.name].get("where"))),
                )
                for ix in t.indexes
            },
        }
    return out


def _reflected(conn: sa.Connection) -> Schema:
    """The schema the database reports, minus Alembic's own bookkeeping table."""
    insp = sa.inspect(conn)
    out: Schema = {}
    for name in insp.get_table_names():
        if name == VERSION_TABLE:
            continue
        columns = insp.get_columns(name)
        indexes = [ix for ix in insp.get_indexes(name) if not ix.get("duplicates_constraint")]
        out[name] = {
            "columns": [
                (c["name"], c["type"].compile(dialect=conn.dialect), c["nullable"]) for c in columns
            ],
            "server_defaults": {
                c["name"]: c["default"] for c in columns if c.get("default") is not None
            },
            "primary_key": insp.get_pk_constraint(name)["constrained_columns"],
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(name)),
            "foreign_keys": sorted(
                (
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                )
                for fk in insp.get_foreign_keys(name)
            ),
            "indexes": {
                ix["name"]: (
                    tuple(ix["column_names"]),
                    bool(ix["unique"]),
                    _predicate(
                        _text(ix.get("dialect_options", {}).get(f"{conn.dialect.name}_where"))
                    ),
                )
                for ix in indexes
            },
        }
    return out


def _table_names(conn: sa.Connection) -> set[str]:
    return set(sa.inspect(conn).get_table_names())


def _versions(conn: sa.Connection) -> list[str]:
    version = sa.column("version_num", sa.String)
    return list(conn.execute(sa.select(version).select_from(sa.table(VERSION_TABLE))).scalars())


def _autogenerate_diff(conn: sa.Connection) -> list[Any]:
    ctx = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(ctx, tables.metadata))


@pytest.fixture
async def migrated(empty: Storage) -> tuple[Schema, Schema]:
    """(declared, reflected) schemas after migrating the empty database once."""
    await empty.migrate()

    def both(conn: sa.Connection) -> tuple[Schema, Schema]:
        return _declared(conn.dialect), _reflected(conn)

    result: tuple[Schema, Schema] = await _run(empty, both)
    return result


# -- the schema ------------------------------------------------------------------------------
async def test_migrating_creates_exactly_the_declared_tables(
    migrated: tuple[Schema, Schema],
) -> None:
    declared, reflected = migrated
    assert sorted(reflected) == sorted(declared)
    # 10, secret_checks, the console's users, sessions, set-up tokens, password links,
    # portal links with their sessions, readiness, background tasks and the limits shared by
    # workers
    assert len(declared) == 21


@pytest.mark.parametrize("aspect", ["columns", "server_defaults", "primary_key"])
async def test_migrated_columns_match_the_declaration(
    migrated: tuple[Schema, Schema], aspect: str
) -> None:
    declared, reflected = migrated
    for name in declared:
        got, want = reflected[name][aspect], declared[name][aspect]
        if aspect == "server_defaults":
            # databases quote and cast defaults: 'api', 'api'::character varying
            got = {col: re.sub(r"^'(.*?)'.*$", r"\1", str(v)) for col, v in got.items()}
        assert got == want, f"{name}.{aspect}"


@pytest.mark.parametrize("aspect", ["unique", "foreign_keys", "indexes"])
async def test_migrated_constraints_and_indexes_match_the_declaration(
    migrated: tuple[Schema, Schema], aspect: str
) -> None:
    declared, reflected = migrated
    for name in declared:
        assert reflected[name][aspect] == declared[name][aspect], f"{name}.{aspect}"


async def test_the_due_index_is_partial(migrated: tuple[Schema, Schema]) -> None:
    """The claim query's index covers only undelivered rows, on both databases."""
    _, reflected = migrated
    columns, unique, where = reflected["deliveries"]["indexes"]["ix_deliveries_due"]
    assert (columns, unique, where) == (("next_attempt_ms",), False, ("delivering", "pending"))


async def test_autogenerate_finds_nothing_to_migrate(empty: Storage) -> None:
    await empty.migrate()
    assert await _run(empty, _autogenerate_diff) == []


# -- revisions -------------------------------------------------------------------------------
async def test_schema_is_current_only_after_migrating(empty: Storage) -> None:
    assert await empty.schema_is_current() is False
    assert await _run(empty, _table_names) == set()

    await empty.migrate()

    assert await empty.schema_is_current() is True
    assert await _run(empty, _versions) == [head_revision()]


async def test_migrate_is_idempotent(empty: Storage) -> None:
    await empty.migrate()
    once = await _run(empty, _reflected)

    await empty.migrate()

    assert await empty.schema_is_current() is True
    assert await _run(empty, _reflected) == once
    assert await _run(empty, _versions) == [head_revision()]


async def test_racing_migrations_on_postgresql(fresh_pg_url: str) -> None:
    """Workers starting together all migrate; the advisory lock makes them queue up."""
    racers = [open_storage(fresh_pg_url) for _ in range(3)]
    try:
        await asyncio.gather(*(st.migrate() for st in racers))
        assert [await st.schema_is_current() for st in racers] == [True, True, True]
        assert await _run(racers[0], _versions) == [head_revision()]
    finally:
        for st in racers:
            await st.close()


async def test_a_failed_migration_leaves_the_database_as_it_was(empty: Storage) -> None:
    assert isinstance(empty, SqlStorage)
    # an obstacle the last step of the first revision trips over
    async with behind(empty) as conn:
        await conn.execute(sa.text("CREATE TABLE deliveries (x INTEGER)"))

    with pytest.raises(sa.exc.DBAPIError, match="deliveries"):
        await empty.migrate()

    assert await _run(empty, _table_names) == {"deliveries"}
    assert await empty.schema_is_current() is False

    # with the obstacle gone, migrating works
    async with behind(empty) as conn:
        await conn.execute(sa.text("DROP TABLE deliveries"))
    await empty.migrate()
    assert await empty.schema_is_current() is True
