"""Fixtures shared by every test layer: the databases."""

from __future__ import annotations

import asyncio
import compileall
import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

PG_HOST = os.environ.get("HOOKLINE_TEST_PG_HOST", "127.0.0.1")
PG_ADMIN_URL = f"postgresql://postgres@{PG_HOST}:5432/postgres"


def pytest_configure(config: pytest.Config) -> None:
    """Compile Hookline's own modules once. The tests start hundreds of server and CLI
    processes, and where ``PYTHONDONTWRITEBYTECODE`` is set (as on this project's machines)
    none of them writes its bytecode, so each would compile every module again."""
    root = Path(__file__).resolve().parent.parent
    for folder in (root / "src", root / "sdk" / "src"):
        compileall.compile_dir(folder, quiet=1)


async def _pg_execute(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """The PostgreSQL server's admin URL. In CI an unreachable server fails, never skips."""
    try:
        asyncio.run(_pg_execute("SELECT 1"))
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and is unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    return PG_ADMIN_URL


@contextlib.contextmanager
def _fresh_pg_database() -> Iterator[str]:
    name = "hookline_t_" + secrets.token_hex(6)
    asyncio.run(_pg_execute(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@{PG_HOST}:5432/{name}"
    finally:
        asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def fresh_pg_url(pg_admin_url: str) -> Iterator[str]:
    """A brand-new, empty database for one test, dropped afterwards."""
    with _fresh_pg_database() as url:
        yield url


@pytest.fixture(scope="module")
def module_pg_url(pg_admin_url: str) -> Iterator[str]:
    """A brand-new, empty database for one test module, dropped afterwards."""
    with _fresh_pg_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/hookline.db"
