"""Alembic migrations shared by SQLite and PostgreSQL, run from code (no alembic.ini)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

_HERE = Path(__file__).parent
#: any 64-bit number unique to Hookline; taken so racing migrators queue up
_PG_MIGRATE_LOCK = 7_317_004_211


def alembic_config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def run_upgrade(connection: sa.Connection) -> None:
    """Upgrade to head inside the caller's transaction."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({_PG_MIGRATE_LOCK})"))
    command.upgrade(alembic_config(connection), "head")


def schema_is_current(connection: sa.Connection) -> bool:
    current = MigrationContext.configure(connection).get_current_revision()
    return current == head_revision()
