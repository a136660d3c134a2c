"""What stops a process from starting, said in one line: the database, the port, a file.

The process roles (server.py) raise :class:`StartupError`; the CLI prints its message alone,
without a traceback (``--debug`` shows it). Each library's errors are mapped here, where the
process first touches the database, a listening socket or a file.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import sqlite3
from collections.abc import Iterator

import asyncpg
from sqlalchemy.exc import DBAPIError

from hookline.config import Settings
from hookline.core.errors import StorageUnavailable


class StartupError(RuntimeError):
    """The process cannot start; the message says why in one line."""


def listening_sockets(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to every address of ``host`` at ``port``, as asyncio's ``create_server``
    binds them (a name such as ``localhost`` may stand for an IPv4 and an IPv6 address)."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on {where}: unknown host ({exc.strerror})") from exc
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise StartupError(f"cannot listen on {where}: {_bind_problem(exc, port)}") from exc
    return sockets


def _bind_problem(exc: OSError, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "the port is already in use (another Hookline, or another program?)"
    if exc.errno == errno.EACCES:
        hint = ": ports below 1024 need privileges" if port < 1024 else ""
        return f"permission denied{hint}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "this machine has no such address"
    return exc.strerror or str(exc)


@contextlib.contextmanager
def database_errors(settings: Settings) -> Iterator[None]:
    """Turn the errors of reaching the database (and of its key file) into a StartupError."""
    try:
        _check_sqlite_file(settings)
        yield
    except StartupError:
        raise
    except (DBAPIError, asyncpg.PostgresError, sqlite3.Error, OSError) as exc:
        raise StartupError(_database_problem(settings, exc)) from exc
    except StorageUnavailable as exc:
        # the storage's own word for the errors above (storage/outage.py): say the driver's
        cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
        raise StartupError(_database_problem(settings, cause)) from exc


def _check_sqlite_file(settings: Settings) -> None:
    """Open (or create) an embedded database once, plainly, before the async drivers do: their
    threads, left behind by a failed open, would print tracebacks of their own at exit."""
    path = settings.sqlite_path
    if path is None:
        return
    if not path.parent.is_dir():
        # refused rather than made: a mistyped path would otherwise start on an empty database
        problem = "is not a folder" if path.parent.exists() else "does not exist"
        raise StartupError(f"cannot open the SQLite database {path}: {path.parent} {problem}")
    with contextlib.closing(sqlite3.connect(path)):
        pass


def _database_problem(settings: Settings, exc: Exception) -> str:
    path = settings.sqlite_path
    if isinstance(exc, OSError) and exc.filename is not None:
        # the master key file beside an embedded database
        return f"cannot use {exc.filename}: {exc.strerror}"
    cause: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    detail = _first_line(cause)
    if path is not None:
        if "unable to open" in detail or "readonly" in detail:
            folder = path.parent.resolve()
            return f"cannot open the SQLite database {path} ({detail}): can {folder} be written to?"
        return f"SQLite database {path}: {detail}"
    where = _postgres_address(settings.database_url)
    if isinstance(cause, ConnectionRefusedError):
        return f"cannot connect to PostgreSQL at {where}: connection refused (is it running?)"
    if isinstance(cause, socket.gaierror):
        return f"cannot connect to PostgreSQL at {where}: unknown host"
    if isinstance(cause, TimeoutError):
        return f"cannot connect to PostgreSQL at {where}: no answer in time"
    return f"PostgreSQL at {where}: {detail}"


def _postgres_address(url: str) -> str:
    """``host:port/database`` of a PostgreSQL URL, without user or password."""
    rest = url.partition("://")[2].rpartition("@")[2]
    return rest.split("?", 1)[0] or "the default address"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


__all__ = ["StartupError", "database_errors", "listening_sockets"]
