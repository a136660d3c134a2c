"""Fixtures shared by every test layer: the databases."""

from __future__ import annotations

import asyncio
import compileall
import contextlib
import os
import secrets
import shutil
import sys
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from hookline.storage.factory import open_storage

T = TypeVar("T")

# tests/acceptance's helper modules (the fork server, certificates.py) are every layer's
_ACCEPTANCE = str(Path(__file__).resolve().parent / "acceptance")
if _ACCEPTANCE not in sys.path:
    sys.path.append(_ACCEPTANCE)

PG_HOST = os.environ.get("HOOKLINE_TEST_PG_HOST", "127.0.0.1")
PG_ADMIN_URL = f"postgresql://postgres@{PG_HOST}:5432/postgres"


def pytest_configure(config: pytest.Config) -> None:
    """Compile Hookline's own modules once. The tests start hundreds of server and CLI
    processes, and where ``PYTHONDONTWRITEBYTECODE`` is set (as on this project's machines)
    none of them writes its bytecode, so each would compile every module again."""
    root = Path(__file__).resolve().parent.parent
    for folder in (root / "src", root / "sdk" / "src"):
        compileall.compile_dir(folder, quiet=1)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)`` on a thread of its own: a test may have an event loop running on
    this one (Playwright's synchronous API keeps one while a browser is open)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


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
        run_async(_pg_execute("SELECT 1"))
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and is unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    return PG_ADMIN_URL


async def _create_database(name: str, template: str | None) -> None:
    sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
    for _ in range(50):
        try:
            await _pg_execute(sql)
            return
        except asyncpg.ObjectInUseError:
            # the template's last connection (its migration's) is still ending
            await asyncio.sleep(0.1)
    await _pg_execute(sql)


@contextlib.contextmanager
def _fresh_pg_database(template: str | None = None) -> Iterator[str]:
    name = "hookline_t_" + secrets.token_hex(6)
    run_async(_create_database(name, template))
    try:
        yield f"postgresql://postgres@{PG_HOST}:5432/{name}"
    finally:
        run_async(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _migrate(url: str) -> None:
    storage = open_storage(url)
    try:
        await storage.migrate()
    finally:
        await storage.close()


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite database migrated once per test process, for tests to copy
    (``migrated_sqlite_url``): migrating a new file costs far more than copying one."""
    path = tmp_path_factory.mktemp("template") / "hookline.db"
    run_async(_migrate(f"sqlite:///{path}"))  # closing it leaves no WAL beside it
    return path


@pytest.fixture
def migrated_sqlite_url(migrated_sqlite_file: Path, tmp_path: Path) -> str:
    """A new SQLite file for one test, migrated (a copy of ``migrated_sqlite_file``)."""
    path = tmp_path / "hookline.db"
    shutil.copy(migrated_sqlite_file, path)  # its mode too: owner-only
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str) -> Iterator[str]:
    """The name of a database migrated once per test process: the template of the migrated
    databases the tests make (``migrated_pg_url``), which PostgreSQL copies file by file."""
    with _fresh_pg_database() as url:
        run_async(_migrate(url))
        yield url.rsplit("/", 1)[1]


@pytest.fixture
def fresh_pg_url(pg_admin_url: str) -> Iterator[str]:
    """A brand-new, empty database for one test, dropped afterwards."""
    with _fresh_pg_database() as url:
        yield url


@pytest.fixture
def migrated_pg_url(pg_template: str) -> Iterator[str]:
    """A new, migrated database for one test, dropped afterwards."""
    with _fresh_pg_database(pg_template) as url:
        yield url


@pytest.fixture(scope="module")
def module_pg_url(pg_template: str) -> Iterator[str]:
    """A new, migrated database for one test module, dropped afterwards."""
    with _fresh_pg_database(pg_template) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/hookline.db"
