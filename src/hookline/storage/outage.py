"""Storage outages: the drivers' errors of an unreachable, full or read-only database become
one domain error, ``StorageUnavailable``, at the storage's public methods; and a small health
state logs each outage once, when it begins and when it ends.

A request that fails because of an outage is not a fault of Hookline's nor of its caller:
it is answered 503 with ``Retry-After`` (api/errors.py), the worker waits and tries again,
and the log says so once per outage rather than with a traceback per request.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import sqlalchemy as sa

from hookline.core.errors import StorageUnavailable

log = logging.getLogger("hookline.storage")

C = TypeVar("C", bound=type)

#: how often, at most, a down storage is probed for its recovery after a call succeeds
PROBE_INTERVAL_S = 1.0
#: an outage is over once the probe passed and no call failed for this long: a nearly full
#: disk takes a small write and refuses a large one, and must not log an end and a new
#: outage at every turn
SETTLE_S = 2.0

#: SQLite's primary result codes that mean the database cannot be used now
_SQLITE_CODES = {
    5: "the database is locked by another process",  # SQLITE_BUSY
    6: "the database is locked",  # SQLITE_LOCKED
    8: "the database is read-only",  # SQLITE_READONLY
    10: "disk I/O error",  # SQLITE_IOERR
    13: "the database or its disk is full",  # SQLITE_FULL
    14: "the database file cannot be opened",  # SQLITE_CANTOPEN
}

#: PostgreSQL SQLSTATE classes and codes that mean the same
_PG_STATES = {
    "08": "the connection to PostgreSQL failed",  # connection exception
    "53": "PostgreSQL is out of resources (disk, memory or connections)",
    "58": "PostgreSQL had a system error",  # I/O
    "57P01": "PostgreSQL is shutting down",  # admin_shutdown
    "57P02": "PostgreSQL is shutting down",  # crash_shutdown
    "57P03": "PostgreSQL is not accepting connections",  # cannot_connect_now
    "25006": "the database is read-only",  # read_only_sql_transaction
}

#: PostgreSQL SQLSTATEs of a transaction aborted for another's sake, which goes through when
#: it runs again: deadlock_detected and serialization_failure
RERUN_STATES = frozenset({"40P01", "40001"})

#: public methods that are not guarded: start-up reports its own errors (startup.py), and
#: the watchers handle a lost connection themselves
_UNGUARDED = frozenset({"migrate", "schema_is_current", "close", "watch", "watch_revocations"})


def unavailable_reason(exc: BaseException) -> str | None:
    """Why ``exc`` means the database is unavailable, in a few words; None when it is some
    other error (a bug, a constraint), which keeps its own road."""
    if isinstance(exc, StorageUnavailable):
        return exc.reason
    if isinstance(exc, sa.exc.TimeoutError):  # the pool's: every connection is busy
        return "no database connection came free in time"
    if isinstance(exc, sa.exc.DBAPIError):
        orig: BaseException | None = exc.orig
        if isinstance(orig, sqlite3.Error):
            return _SQLITE_CODES.get(getattr(orig, "sqlite_errorcode", -1) & 0xFF)
        reason = _pg_reason(orig)
        if reason is None and exc.connection_invalidated:
            return "the connection to the database was lost"
        return reason
    if isinstance(exc, sqlite3.Error):
        return _SQLITE_CODES.get(getattr(exc, "sqlite_errorcode", -1) & 0xFF)
    if isinstance(exc, OSError | TimeoutError):
        # asyncpg's connect: refused, reset, unreachable, no such host
        return f"the database cannot be reached ({exc.strerror or type(exc).__name__})"
    return _pg_reason(exc)


def aborted_for_another(exc: BaseException) -> bool:
    """Whether PostgreSQL aborted the transaction that raised ``exc`` to let another go on
    (a deadlock between the two, or a serialization failure): nothing is wrong with either."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    for candidate in (orig, orig.__cause__ if orig is not None else None):
        if getattr(candidate, "sqlstate", None) in RERUN_STATES:
            return True
    return False


def _pg_reason(exc: BaseException | None) -> str | None:
    for candidate in (exc, exc.__cause__ if exc is not None else None):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            found = _PG_STATES.get(state) or _PG_STATES.get(state[:2])
            if found is not None:
                return found
        # asyncpg's own, raised before any SQLSTATE: a connection closed under it
        name = type(candidate).__name__
        if name in ("ConnectionDoesNotExistError", "InterfaceError") and "closed" in str(candidate):
            return "the connection to the database was lost"
        if isinstance(candidate, OSError):
            return f"the database cannot be reached ({candidate.strerror or name})"
    return None


class Contended(StorageUnavailable):
    """A transaction PostgreSQL aborted for others' sake each time it ran: the database is
    up, but too busy with conflicting writes for this one now (answered 503, tried again
    later; not an outage)."""


class Settling(StorageUnavailable):
    """Readiness during an outage's last moments: the check passed, but the outage is over
    only once nothing failed for ``SETTLE_S`` (this error does not restart that wait)."""


class StorageHealth:
    """Up or down, with the log lines of each change. ``probe`` checks the database as
    readiness does (a write included); it runs, at most every ``PROBE_INTERVAL_S``, when a
    call succeeds while the storage is down: a read that works on a full disk must not end
    the outage."""

    def __init__(self, probe: Callable[[], Awaitable[None]]) -> None:
        self._probe = probe
        self.down_since: float | None = None
        self.reason = ""
        self._probing: asyncio.Task[None] | None = None
        self._probed_at = 0.0
        #: the outage's end, once the probe passed, waiting to be sure (SETTLE_S)
        self._settling: asyncio.TimerHandle | None = None

    @property
    def is_down(self) -> bool:
        return self.down_since is not None

    def failed(self, reason: str) -> None:
        if self._settling is not None:
            self._settling.cancel()  # not over after all: the same outage goes on
            self._settling = None
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.reason = reason
            log.error(
                "storage unavailable: %s; requests that need it answer 503 until it is back",
                reason,
            )

    def recovered(self) -> None:
        """The probe passed: the outage ends, said so once nothing failed for SETTLE_S."""
        if self.down_since is None or self._settling is not None:
            return
        self._settling = asyncio.get_running_loop().call_later(SETTLE_S, self._settled)

    def check_settled(self) -> None:
        """Raise ``Settling`` while an outage has not been declared over."""
        if self.down_since is not None:
            raise Settling(f"{self.reason}; recovering")

    def _settled(self) -> None:
        self._settling = None
        since = self.down_since
        if since is not None:
            self.down_since = None
            took_s = time.monotonic() - since
            log.warning("storage available again after %.1f s (was: %s)", took_s, self.reason)

    def succeeded(self) -> None:
        """A call went through while down: check, once in a while, whether the outage ended."""
        now = time.monotonic()
        if (
            self._probing is not None
            or self._settling is not None
            or now - self._probed_at < PROBE_INTERVAL_S
        ):
            return
        self._probed_at = now
        self._probing = asyncio.get_running_loop().create_task(self._check())

    async def close(self) -> None:
        """Stop a probe under way (the storage is closing)."""
        if self._settling is not None:
            self._settling.cancel()
            self._settling = None
        probing = self._probing
        if probing is not None:
            probing.cancel()
            await asyncio.gather(probing, return_exceptions=True)

    async def _check(self) -> None:
        try:
            await self._probe()
        except Exception as exc:
            reason = unavailable_reason(exc)
            if reason is None:
                log.warning("checking whether storage is back failed: %s", type(exc).__name__)
        else:
            self.recovered()
        finally:
            self._probing = None


def guard(cls: C) -> C:
    """Wrap every public coroutine method of the storage class ``cls`` (all its interface
    but ``_UNGUARDED``) so that an outage's driver error leaves it as ``StorageUnavailable``
    and moves the instance's ``health``. A class decorator on each concrete storage: every
    method is wrapped once, at the most derived class."""
    for name in dir(cls):
        if name.startswith("_") or name in _UNGUARDED:
            continue
        fn = getattr(cls, name)
        if asyncio.iscoroutinefunction(fn) and not getattr(fn, "_guarded", False):
            setattr(cls, name, _guarded(fn))
    return cls


def _guarded(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(fn)
    async def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            result = await fn(self, *args, **kwargs)
        except (Settling, Contended):
            raise
        except StorageUnavailable as exc:
            self.health.failed(exc.reason)
            raise
        except Exception as exc:
            reason = unavailable_reason(exc)
            if reason is None:
                raise
            self.health.failed(reason)
            raise StorageUnavailable(reason) from exc
        if self.health.down_since is not None:
            self.health.succeeded()
        return result

    guarded._guarded = True  # type: ignore[attr-defined]
    return guarded
